import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AclFileAuthorizer, hashPasswordV7, PasswordFileAuthenticator, runPasswdCommand } from '../../src/auth/index.js';
import { announceSkip, peers } from '../helpers/peers.js';
import { makeTempDir } from '../helpers/temp.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
async function file(name: string, text: string): Promise<string> {
  const dir = await makeTempDir('midge-auth-');
  dirs.push(dir);
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}
const creds = (username: string | undefined, password: string | undefined, remoteAddress = '10.0.0.1:5000') => ({
  clientId: 'c',
  ...(username !== undefined ? { username } : {}),
  ...(password !== undefined ? { password: Buffer.from(password) } : {}),
  remoteAddress,
});

announceSkip(peers.mosquitto, 'checking against mosquitto_passwd', 'mosquitto');

describe('password file', () => {
  it.skipIf(!peers.mosquitto)('verifies a file written by the real mosquitto_passwd ($7$)', async () => {
    const p = await file('passwd', '');
    execFileSync('/usr/bin/mosquitto_passwd', ['-b', '-c', p, 'alice', 's3cret']);
    const auth = new PasswordFileAuthenticator(p, { allowAnonymous: false, sleep: async () => undefined });
    expect(await auth.authenticate(creds('alice', 's3cret'))).toEqual({ isAccepted: true });
    expect(await auth.authenticate(creds('alice', 'wrong'))).toEqual({ isAccepted: false, reasonCode: 0x86 });
  });

  it('verifies $7$ lines it writes and $6$ (SHA-512) lines, refuses unknown users and anonymous', async () => {
    const salt = Buffer.from('0123456789ab');
    const sha = (await import('node:crypto')).createHash('sha512').update('old-pass').update(salt).digest('base64');
    const p = await file('passwd', `bob:${hashPasswordV7('pw-bob')}\nold:$6$${salt.toString('base64')}$${sha}\n# comment\n`);
    const auth = new PasswordFileAuthenticator(p, { allowAnonymous: false, sleep: async () => undefined });
    expect(auth.userCount).toBe(2);
    expect(await auth.authenticate(creds('bob', 'pw-bob'))).toEqual({ isAccepted: true });
    expect(await auth.authenticate(creds('old', 'old-pass'))).toEqual({ isAccepted: true });
    expect((await auth.authenticate(creds('nobody', 'x'))).isAccepted).toBe(false);
    expect(await auth.authenticate(creds(undefined, undefined))).toEqual({ isAccepted: false, reasonCode: 0x87 });
    const open = new PasswordFileAuthenticator(p, { allowAnonymous: true, sleep: async () => undefined });
    expect(await open.authenticate(creds(undefined, undefined))).toEqual({ isAccepted: true });
  });

  it('a malformed line fails with file and line', async () => {
    const p = await file('passwd', 'ok:$7$101$YWJj$ZGVm\nbroken line\n');
    expect(() => new PasswordFileAuthenticator(p, { allowAnonymous: false })).toThrow(/passwd:2: expected user:hash/);
  });

  it('failed logins are delayed per address: 0, 100, 200 … capped at 5 s; reset by a success', async () => {
    const p = await file('passwd', `bob:${hashPasswordV7('pw')}\n`);
    const waits: number[] = [];
    const auth = new PasswordFileAuthenticator(p, { allowAnonymous: false, sleep: async (ms) => void waits.push(ms) });
    for (let i = 0; i < 9; i++) await auth.authenticate(creds('bob', 'bad'));
    expect(waits).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    expect(auth.delayFor('10.0.0.2')).toBe(0); // another address is not slowed
    await auth.authenticate(creds('bob', 'pw'));
    expect(auth.delayFor('10.0.0.1')).toBe(0);
  });

  it('reload picks up changes; a broken file keeps the old users', async () => {
    const p = await file('passwd', `bob:${hashPasswordV7('one')}\n`);
    const auth = new PasswordFileAuthenticator(p, { allowAnonymous: false, sleep: async () => undefined });
    writeFileSync(p, `bob:${hashPasswordV7('two')}\n`);
    await auth.reload();
    expect((await auth.authenticate(creds('bob', 'two'))).isAccepted).toBe(true);
    writeFileSync(p, 'garbage\n');
    await expect(auth.reload()).rejects.toThrow();
    expect((await auth.authenticate(creds('bob', 'two'))).isAccepted).toBe(true);
  });
});

describe('midge passwd', () => {
  const io = () => {
    let err = '';
    return { io: { stdout: process.stdout, stderr: { write: (s: string) => ((err += s), true) } as unknown as NodeJS.WritableStream }, err: () => err };
  };

  it('creates (-c), adds, updates (-b), prompts twice, deletes (-D); file mode 0600', async () => {
    const dir = await makeTempDir('midge-passwd-');
    dirs.push(dir);
    const p = path.join(dir, 'passwd');
    expect(await runPasswdCommand(['-c', '-b', p, 'alice', 'a1'], io().io)).toBe(0);
    expect(await runPasswdCommand(['-b', p, 'bob', 'b1'], io().io)).toBe(0);
    const answers = ['b2', 'b2'];
    expect(await runPasswdCommand([p, 'bob'], { ...io().io, prompt: async () => answers.shift()! })).toBe(0);
    const auth = new PasswordFileAuthenticator(p, { allowAnonymous: false, sleep: async () => undefined });
    expect((await auth.authenticate(creds('alice', 'a1'))).isAccepted).toBe(true);
    expect((await auth.authenticate(creds('bob', 'b2'))).isAccepted).toBe(true);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(await runPasswdCommand(['-D', p, 'alice'], io().io)).toBe(0);
    expect(readFileSync(p, 'utf8')).not.toContain('alice:');
    const mismatch = io();
    const differing = ['x', 'y'];
    expect(await runPasswdCommand([p, 'carol'], { ...mismatch.io, prompt: async () => differing.shift()! })).toBe(1);
    expect(mismatch.err()).toMatch(/do not match/);
  });
});

describe('ACL file', () => {
  const ACL = [
    '# anonymous clients',
    'topic read public/#',
    'user alice',
    'topic readwrite home/alice/#',
    'topic deny home/alice/secret',
    'topic read $SYS/#',
    'user bob',
    'topic write sensors/bob/#',
    'pattern readwrite devices/%c/#',
    'pattern read users/%u/inbox',
    'topic with space/#',
  ].join('\n');
  const alice = { clientId: 'a1', username: 'alice' };
  const bob = { clientId: 'b1', username: 'bob' };
  const anon = { clientId: 'x1' };

  it('grants per user, anonymous and pattern (%c, %u); deny wins; write and read are apart', async () => {
    const acl = new AclFileAuthorizer(await file('acl', ACL));
    expect(acl.canPublish(alice, 'home/alice/lamp')).toBe(true);
    expect(acl.canPublish(alice, 'home/alice/secret')).toBe(false);
    expect(acl.canReceive(alice, 'home/alice/secret')).toBe(false);
    expect(acl.canPublish(bob, 'sensors/bob/t')).toBe(true);
    expect(acl.canReceive(bob, 'sensors/bob/t')).toBe(false);
    expect(acl.canPublish(anon, 'public/x')).toBe(false);
    expect(acl.canReceive(anon, 'public/x')).toBe(true);
    expect(acl.canPublish(bob, 'devices/b1/status')).toBe(true);
    expect(acl.canPublish(bob, 'devices/a1/status')).toBe(false);
    expect(acl.canReceive(bob, 'users/bob/inbox')).toBe(true);
    expect(acl.canReceive(anon, 'users//inbox')).toBe(false);
    expect(acl.canPublish(bob, 'with space/x')).toBe(true);
  });

  it('subscriptions: covered filters are allowed, wider ones not; deliveries are checked per topic', async () => {
    const acl = new AclFileAuthorizer(await file('acl', ACL));
    expect(acl.canSubscribe(alice, 'home/alice/#')).toBe(true);
    expect(acl.canSubscribe(alice, 'home/alice/+/temp')).toBe(true);
    expect(acl.canSubscribe(alice, 'home/#')).toBe(false);
    expect(acl.canSubscribe(alice, '#')).toBe(false);
    expect(acl.canSubscribe(alice, '$share/g/home/alice/x')).toBe(true);
  });

  it('$SYS only when granted: a rule on # does not reach it', async () => {
    const acl = new AclFileAuthorizer(await file('acl', 'user carol\ntopic read #\n' + ACL));
    expect(acl.canReceive({ clientId: 'c', username: 'carol' }, '$SYS/broker/uptime')).toBe(false);
    expect(acl.canReceive({ clientId: 'c', username: 'carol' }, 'anything')).toBe(true);
    expect(acl.canReceive(alice, '$SYS/broker/uptime')).toBe(true);
  });

  it('a malformed line fails with file and line', async () => {
    expect(() => new AclFileAuthorizer(path.join('/nonexistent', 'acl'))).toThrow();
    const p = await file('acl', 'user alice\nfrobnicate x\n');
    expect(() => new AclFileAuthorizer(p)).toThrow(/acl:2: unknown keyword/);
  });
});
