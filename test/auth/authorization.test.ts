/**
 * The authorization chain: the ACL file, the credential's claims and the user store's roles are
 * all asked; a deny from any of them wins; when none matches, `noMatch` decides (deny beyond
 * loopback by default). `auth.passwordFile`/`auth.aclFile` become chain entries next to `auth.chain`.
 */
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPasswordV7 } from '../../src/auth/index.js';
import { resolveConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observability/index.js';
import { buildSecurity } from '../../src/security.js';
import { closeAllClients, connectClient, MessageCollector } from '../helpers/clients.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { makeTempDir } from '../helpers/temp.js';
import { captureLogger } from './helpers.js';

const SECRET = 'authorization-test-secret-0123456789';
const token = (sub: string, acl: unknown[]): Promise<string> =>
  new SignJWT({ sub, acl }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));

describe('authorization chain over sockets', () => {
  let dir: string;
  let b: TestBroker;
  beforeAll(async () => {
    dir = await makeTempDir('midge-authz-');
    writeFileSync(path.join(dir, 'passwd'), `alice:${hashPasswordV7('pw-alice')}\n`);
    writeFileSync(path.join(dir, 'acl'), 'user alice\ntopic readwrite shared/#\n\npattern deny shared/locked\n');
    b = await startBroker({
      auth: {
        chain: [{ type: 'jwt', secret: SECRET }],
        // Shorthands: the password file is tried after the JWT entry, the ACL file asked first.
        passwordFile: path.join(dir, 'passwd'),
        aclFile: path.join(dir, 'acl'),
      },
    });
  });
  afterAll(async () => {
    await closeAllClients();
    await b.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('a password-file user gets the ACL file`s grants; a JWT device its claims; the file`s deny beats a claim`s allow', async () => {
    const alice = await connectClient(b.url, { clientId: 'alice-1', username: 'alice', password: 'pw-alice', protocolVersion: 5 });
    const device = await connectClient(b.url, {
      clientId: 'dev-1',
      username: 'dev-1',
      password: await token('dev-1', [{ permission: 'allow', action: 'all', topic: 'shared/#' }]),
      protocolVersion: 5,
    });
    const seen = new MessageCollector(alice);
    await alice.subscribeAsync('shared/#', { qos: 1 });
    await device.publishAsync('shared/open', 'from-device', { qos: 1 });
    // A deny from any entry wins: the ACL file's pattern denies shared/locked to every client.
    await expect(device.publishAsync('shared/locked', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    await expect(alice.publishAsync('shared/locked', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    // Nothing grants other/: with an ACL file in the chain the default is deny, as Mosquitto.
    await expect(device.publishAsync('other/topic', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    expect((await seen.waitFor(1)).map((m) => m.payload)).toEqual(['from-device']);
  });
});

describe('noMatch defaults (composition)', () => {
  const logger = createLogger('silent');
  const decide = (listenerHost: string, noMatch?: 'allow' | 'deny'): boolean => {
    const config = resolveConfig({
      listeners: [{ type: 'mqtt', host: listenerHost, port: 0 }],
      auth: { chain: [{ type: 'anonymous' }], ...(noMatch ? { authorization: { noMatch } } : {}) },
      store: { type: 'memory' },
    });
    const security = buildSecurity(config, logger);
    return security.authorizer!.canPublish({ clientId: 'c' }, 'any/topic');
  };

  it('deny on a listener reachable from the network, allow on loopback; auth.authorization.noMatch overrides', () => {
    expect(decide('0.0.0.0')).toBe(false);
    expect(decide('127.0.0.1')).toBe(true);
    expect(decide('0.0.0.0', 'allow')).toBe(true);
    expect(decide('127.0.0.1', 'deny')).toBe(false);
  });

  it('the client`s own listener decides once it authenticated there', async () => {
    const config = resolveConfig({
      listeners: [
        { type: 'mqtt', host: '127.0.0.1', port: 0 },
        { type: 'mqtt', host: '0.0.0.0', port: 0 },
      ],
      auth: { chain: [{ type: 'anonymous' }] },
      store: { type: 'memory' },
    });
    const security = buildSecurity(config, logger);
    expect((await security.authenticator!.authenticate({ clientId: 'local', listenerIndex: 0 })).isAccepted).toBe(true);
    expect((await security.authenticator!.authenticate({ clientId: 'remote', listenerIndex: 1 })).isAccepted).toBe(true);
    expect(security.authorizer!.canPublish({ clientId: 'local' }, 't')).toBe(true);
    expect(security.authorizer!.canPublish({ clientId: 'remote' }, 't')).toBe(false);
  });

  it('without any chain key the legacy authenticator and authorizer are built, as before', () => {
    const config = resolveConfig({ store: { type: 'memory' } });
    const security = buildSecurity(config, logger);
    expect(security.authenticator).toBeUndefined();
    expect(security.authorizer).toBeUndefined();
  });

  it('a legacy password file decides as before (no lockout) and each attempt is audited and counted', async () => {
    const dir = await makeTempDir('midge-legacy-');
    try {
      writeFileSync(path.join(dir, 'passwd'), `bob:${hashPasswordV7('pw-bob')}\n`);
      const { logger: captured, lines } = captureLogger();
      const config = resolveConfig({ auth: { passwordFile: path.join(dir, 'passwd'), lockout: { maxFailures: 1 } }, store: { type: 'memory' } });
      const security = buildSecurity(config, captured);
      const creds = (password: string) => ({ clientId: 'c', username: 'bob', password: Buffer.from(password), remoteAddress: '10.0.0.1:1' });
      expect(await security.authenticator!.authenticate(creds('wrong'))).toEqual({ isAccepted: false, reasonCode: 0x86 });
      // maxFailures: 1 would have locked bob out in a chain; the legacy path has no lockout.
      expect(await security.authenticator!.authenticate(creds('pw-bob'))).toEqual({ isAccepted: true });
      expect(security.chainAuthenticator!.stats).toMatchObject({ successes: 1, failures: 1, lockedOut: 0 });
      const audit = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === 'auth');
      expect(audit.map((l) => l.outcome)).toEqual(['failure', 'success']);
      expect(lines.some((l) => l.includes('pw-bob') || l.includes('wrong'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('reload (SIGHUP) in a chain', () => {
  it('re-reads the password file and the ACL file entries; a broken file keeps the old ones', async () => {
    const dir = await makeTempDir('midge-chain-reload-');
    try {
      const passwd = path.join(dir, 'passwd');
      const acl = path.join(dir, 'acl');
      writeFileSync(passwd, `bob:${hashPasswordV7('one')}\n`);
      writeFileSync(acl, 'user bob\ntopic write a/#\n');
      const config = resolveConfig({ auth: { chain: [{ type: 'passwordFile', path: passwd }], authorization: { chain: [{ type: 'aclFile', path: acl }] } }, store: { type: 'memory' } });
      const security = buildSecurity(config, createLogger('silent'));
      const login = (password: string) => security.authenticator!.authenticate({ clientId: 'c', username: 'bob', password: Buffer.from(password), listenerIndex: 0 });
      expect((await login('one')).isAccepted).toBe(true);
      expect(security.authorizer!.canPublish({ clientId: 'c', username: 'bob' }, 'b/1')).toBe(false);
      writeFileSync(passwd, `bob:${hashPasswordV7('two')}\n`);
      writeFileSync(acl, 'user bob\ntopic write b/#\n');
      await security.authenticator!.reload!();
      await security.authorizer!.reload!();
      expect((await login('two')).isAccepted).toBe(true);
      expect(security.authorizer!.canPublish({ clientId: 'c', username: 'bob' }, 'b/1')).toBe(true);
      writeFileSync(passwd, 'garbage\n');
      await expect(security.authenticator!.reload!()).rejects.toThrow();
      expect((await login('two')).isAccepted).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('chain config checks', () => {
  it('names the key of a broken entry', () => {
    expect(() => resolveConfig({ auth: { chain: [{ type: 'jwt', secret: 'a-long-enough-secret-1', jwksUrl: 'http://x' }] } })).toThrow(/auth\.chain/);
    expect(() => resolveConfig({ auth: { chain: [{ type: 'jwt', secret: 'short' }] } })).toThrow(/auth\.chain/);
    expect(() => resolveConfig({ auth: { chain: [{ type: 'http', url: 'ftp://x' }] } })).toThrow(/auth\.chain/);
    expect(() => resolveConfig({ auth: { chain: [{ type: 'kerberos' } as never] } })).toThrow(/auth\.chain/);
    expect(() => resolveConfig({ listeners: [{ type: 'mqtt', host: '127.0.0.1', authChain: 'nope' }] })).toThrow(/listeners\[0\]\.authChain: no chain "nope"/);
    expect(resolveConfig({ auth: { lockout: { maxFailures: 3 } } }).auth.lockout).toEqual({ maxFailures: 3, windowMs: 60_000, durationMs: 300_000 });
  });
});
