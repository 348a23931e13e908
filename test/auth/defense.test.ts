/**
 * Defence: failed logins lock out an address or a user name for a defined time (CONNACK 0x8A, no
 * backend asked), counted in /metrics; each attempt is one audit line; no log line ever holds a
 * password, a token or a signing secret (the captured log is scanned for every secret used).
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginGuard } from '../../src/auth/index.js';
import { closeAllClients } from '../helpers/clients.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { captureLogger, tryConnect } from './helpers.js';

const SECRET = 'defence-signing-secret-0123456789';
const PASSWORD = 'correct-horse-battery';
const WRONG = 'wrong-horse-battery';

describe('lockout, metrics, audit log', () => {
  let b: TestBroker;
  let offsetMs = 0;
  const { logger, lines } = captureLogger();
  const secrets: string[] = [SECRET, PASSWORD, WRONG];

  beforeAll(async () => {
    b = await startBroker(
      {
        http: { enabled: true, port: 0 },
        auth: {
          chain: [{ type: 'jwt', secret: SECRET }, { type: 'users' }],
          lockout: { maxFailures: 3, windowMs: 60_000, durationMs: 120_000 },
          users: { iterations: 50 },
        },
      },
      // The lockout's clock: moved forward by the test instead of waiting.
      { logger, now: () => Date.now() + offsetMs },
    );
    await b.broker.userStore!.createUser({ username: 'victim', password: PASSWORD });
  });
  afterAll(async () => {
    await closeAllClients();
    await b.cleanup();
  });

  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${b.broker.httpBoundAddress!.port}/metrics`)).text();
    const match = new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text);
    return match ? Number(match[1]) : 0;
  };

  it('three failures lock the address and user name out: even the right password gets 0x8A, until the lockout ends', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await tryConnect(b.url, { clientId: 'v1', username: 'victim', password: WRONG, protocolVersion: 5 })).code).toBe(0x86);
    }
    expect((await tryConnect(b.url, { clientId: 'v1', username: 'victim', password: PASSWORD, protocolVersion: 5 })).code).toBe(0x8a);
    // 3.1.1 has no "banned": return code 5, not authorized.
    expect((await tryConnect(b.url, { clientId: 'v1', username: 'victim', password: PASSWORD, protocolVersion: 4 })).code).toBe(5);
    expect(await metric('midge_auth_attempts_total{outcome="failure"}')).toBe(3);
    expect(await metric('midge_auth_attempts_total{outcome="locked_out"}')).toBe(2);
    expect(await metric('midge_auth_lockouts_total')).toBe(2); // the address and the user name
    offsetMs += 121_000;
    const { code, client } = await tryConnect(b.url, { clientId: 'v1', username: 'victim', password: PASSWORD, protocolVersion: 5 });
    expect(code).toBe(0);
    await client!.endAsync();
    expect(await metric('midge_auth_attempts_total{outcome="success"}')).toBe(1);
  });

  it('each attempt writes one audit line; no line holds a password, a token or the signing secret', async () => {
    const key = new TextEncoder().encode(SECRET);
    const good = await new SignJWT({ sub: 'dev-1' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(key);
    const expired = await new SignJWT({ sub: 'dev-1' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(key);
    secrets.push(good, expired, good.split('.')[2]!, expired.split('.')[2]!);
    const ok = await tryConnect(b.url, { clientId: 'dev-1', username: 'dev-1', password: good, protocolVersion: 5 });
    expect(ok.code).toBe(0);
    await ok.client!.endAsync();
    expect((await tryConnect(b.url, { clientId: 'dev-1', username: 'dev-1', password: expired, protocolVersion: 5 })).code).toBe(0x86);
    const audit = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === 'auth');
    expect(audit.map((l) => l.outcome)).toEqual(['failure', 'failure', 'failure', 'locked-out', 'locked-out', 'success', 'success', 'failure']);
    expect(audit.at(-1)).toMatchObject({ clientId: 'dev-1', username: 'dev-1', entry: 'jwt', reasonCode: 0x86, why: 'token rejected: expired' });
    expect(audit[0]).toMatchObject({ username: 'victim', entry: 'users', why: 'wrong password' });
    for (const line of lines) for (const secret of secrets) expect(line.includes(secret), `a log line holds a secret: ${line}`).toBe(false);
    expect(lines.some((l) => l.includes('$7$'))).toBe(false);
  });
});

describe('LoginGuard (per user name from many addresses)', () => {
  it('a user name is locked out whatever the address; a success clears an address`s count; keys are bounded', () => {
    let now = 0;
    const guard = new LoginGuard({ maxFailures: 3, windowMs: 1000, lockoutMs: 5000, now: () => now, maxKeys: 100 });
    guard.recordFailure('10.0.0.1', 'bob');
    guard.recordFailure('10.0.0.2', 'bob');
    expect(guard.lockedBy('10.0.0.3', 'bob')).toBeUndefined();
    expect(guard.recordFailure('10.0.0.3', 'bob')).toBe(true);
    expect(guard.lockedBy('10.0.0.9', 'bob')).toBe('username');
    expect(guard.lockedBy('10.0.0.9', 'alice')).toBeUndefined();
    now += 5001;
    expect(guard.lockedBy('10.0.0.9', 'bob')).toBeUndefined();
    // Failures spread wider than the window do not add up.
    guard.recordFailure('10.0.1.1', 'carol');
    now += 1500;
    guard.recordFailure('10.0.1.1', 'carol');
    now += 1500;
    expect(guard.recordFailure('10.0.1.1', 'carol')).toBe(false);
    guard.recordSuccess('10.0.1.1', 'carol');
    expect(guard.recordFailure('10.0.1.1', 'carol')).toBe(false);
    // An address flood past maxKeys forgets idle keys, never a running lockout.
    for (let i = 0; i < 3; i++) guard.recordFailure('10.0.2.1', 'zed');
    for (let i = 0; i < 1000; i++) guard.recordFailure(`10.9.${i >> 8}.${i & 255}`, undefined);
    expect(guard.lockedBy('10.0.5.5', 'zed')).toBe('username');
  });
});
