/**
 * JWT authentication through real sockets: HS256 with a shared secret, RS256/ES256 from a local
 * JWKS server (with key rotation), exp/nbf/aud/iss checks, sub bound to the client id, the
 * token as MQTT password or as MQTT 5 Authentication Data, and ACL rules from the claims
 * enforced on publish and subscribe.
 */
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllClients, connectClient, connectCollecting, MessageCollector } from '../helpers/clients.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { sendJson, startHttpServer, tryConnect, type LocalHttpServer } from './helpers.js';

const SECRET = 'a-shared-secret-of-some-length-1234';
const key = new TextEncoder().encode(SECRET);
const nowSec = (): number => Math.floor(Date.now() / 1000);

async function hsToken(claims: Record<string, unknown>, options: { exp?: number; aud?: string; iss?: string; secret?: Uint8Array } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(options.exp ?? nowSec() + 600)
    .setAudience(options.aud ?? 'midge')
    .setIssuer(options.iss ?? 'fleet-provisioning')
    .sign(options.secret ?? key);
}

describe('JWT with a shared secret (HS256)', () => {
  let b: TestBroker;
  beforeAll(async () => {
    b = await startBroker({
      auth: {
        chain: [{ type: 'jwt', secret: SECRET, audience: 'midge', issuer: 'fleet-provisioning' }],
        // Only what the claims grant: nothing else on this listener.
        authorization: { noMatch: 'deny' },
      },
    });
  });
  afterAll(async () => {
    await closeAllClients();
    await b.cleanup();
  });

  it('a valid token as the MQTT password connects (3.1.1 and 5.0)', async () => {
    for (const protocolVersion of [4, 5] as const) {
      const token = await hsToken({ sub: 'dev-1' });
      const { code, client } = await tryConnect(b.url, { clientId: 'dev-1', username: 'dev-1', password: token, protocolVersion });
      expect(code).toBe(0);
      await client!.endAsync();
    }
  });

  it('refuses an expired token, a wrong audience, a wrong issuer and a wrong signature with 0x86 [5.0 MQTT-3.2.2-8]', async () => {
    const cases = {
      expired: await hsToken({ sub: 'dev-1' }, { exp: nowSec() - 60 }),
      audience: await hsToken({ sub: 'dev-1' }, { aud: 'someone-else' }),
      issuer: await hsToken({ sub: 'dev-1' }, { iss: 'intruder' }),
      signature: await hsToken({ sub: 'dev-1' }, { secret: new TextEncoder().encode('another-secret-of-some-length-99') }),
    };
    for (const [why, token] of Object.entries(cases)) {
      const { code } = await tryConnect(b.url, { clientId: 'dev-1', username: 'dev-1', password: token, protocolVersion: 5 });
      expect(code, why).toBe(0x86);
    }
    // 3.1.1: return code 4, bad user name or password [3.1.1 MQTT-3.2.2-5].
    const { code } = await tryConnect(b.url, { clientId: 'dev-1', username: 'dev-1', password: cases.expired, protocolVersion: 4 });
    expect(code).toBe(4);
  });

  it('a token not yet valid (nbf) is refused', async () => {
    const token = await new SignJWT({ sub: 'dev-1' }).setProtectedHeader({ alg: 'HS256' }).setNotBefore(nowSec() + 600).setExpirationTime(nowSec() + 1200).setAudience('midge').setIssuer('fleet-provisioning').sign(key);
    expect((await tryConnect(b.url, { clientId: 'dev-1', password: token, username: 'x', protocolVersion: 5 })).code).toBe(0x86);
  });

  it('binds sub to the client id or user name: another device`s token is refused with 0x87', async () => {
    const token = await hsToken({ sub: 'dev-2' });
    expect((await tryConnect(b.url, { clientId: 'dev-1', username: 'dev-1', password: token, protocolVersion: 5 })).code).toBe(0x87);
  });

  it('a token without exp is refused', async () => {
    const token = await new SignJWT({ sub: 'dev-1' }).setProtectedHeader({ alg: 'HS256' }).setAudience('midge').setIssuer('fleet-provisioning').sign(key);
    expect((await tryConnect(b.url, { clientId: 'dev-1', username: 'dev-1', password: token, protocolVersion: 5 })).code).toBe(0x86);
  });

  it('the token in MQTT 5 enhanced authentication (method JWT) connects; a bad one is refused', async () => {
    const token = await hsToken({ sub: 'dev-9' });
    const ok = await tryConnect(b.url, { clientId: 'dev-9', protocolVersion: 5, properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(token) } });
    expect(ok.code).toBe(0);
    await ok.client!.endAsync();
    const expired = await hsToken({ sub: 'dev-9' }, { exp: nowSec() - 5 });
    const bad = await tryConnect(b.url, { clientId: 'dev-9', protocolVersion: 5, properties: { authenticationMethod: 'JWT', authenticationData: Buffer.from(expired) } });
    expect(bad.code).toBe(0x86);
  });

  it('a connected client is closed with DISCONNECT 0x87 when its token expires [5.0 MQTT-3.14.2-1]', async () => {
    const token = await hsToken({ sub: 'dev-short' }, { exp: nowSec() + 3 });
    const client = await connectClient(b.url, { clientId: 'dev-short', username: 'dev-short', password: token, protocolVersion: 5 });
    const packet = await new Promise<{ reasonCode?: number }>((resolve) => client.once('disconnect', resolve));
    expect(packet.reasonCode).toBe(0x87);
    expect(b.broker.admin.isConnected('dev-short')).toBe(false);
  });

  it('enforces the ACL claim on publish (PUBACK 0x87 [5.0 MQTT-3.4.2-1]) and subscribe (SUBACK 0x87 [5.0 MQTT-3.8.4-7])', async () => {
    const acl = [
      { permission: 'allow', action: 'publish', topic: 'devices/%c/telemetry' },
      { permission: 'allow', action: 'subscribe', topic: 'devices/%c/commands/#' },
      { permission: 'deny', action: 'all', topic: 'devices/%c/commands/secret' },
    ];
    const observerToken = await hsToken({ sub: 'observer', acl: [{ permission: 'allow', action: 'all', topic: '#' }] });
    const { client: observer, collector } = await connectCollecting(b.url, { clientId: 'observer', username: 'observer', password: observerToken, protocolVersion: 5 });
    await observer.subscribeAsync('devices/#', { qos: 1 });

    const device = await connectClient(b.url, { clientId: 'dev-7', username: 'dev-7', password: await hsToken({ sub: 'dev-7', acl }), protocolVersion: 5 });
    await device.publishAsync('devices/dev-7/telemetry', 'ok', { qos: 1 });
    await expect(device.publishAsync('devices/dev-8/telemetry', 'not mine', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    const messages = await collector.waitFor(1);
    expect(messages.map((m) => m.topic)).toEqual(['devices/dev-7/telemetry']);

    const granted = await device.subscribeAsync('devices/dev-7/commands/#', { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
    await expect(device.subscribeAsync('devices/dev-8/commands/#', { qos: 1 })).rejects.toMatchObject({ packet: { granted: [0x87] } });
    // The deny rule inside the granted subscription holds per delivery.
    const own = new MessageCollector(device);
    await observer.publishAsync('devices/dev-7/commands/secret', 'hidden', { qos: 1 });
    await observer.publishAsync('devices/dev-7/commands/reboot', 'visible', { qos: 1 });
    const received = await own.waitFor(1);
    expect(received.map((m) => m.topic)).toEqual(['devices/dev-7/commands/reboot']);
  });
});

describe('JWT from a JWKS URL (RS256, ES256, rotation)', () => {
  let b: TestBroker;
  let jwks: LocalHttpServer;
  let served: JWK[] = [];
  const keys: Record<string, { privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']; jwk: JWK; alg: string }> = {};

  beforeAll(async () => {
    for (const [kid, alg] of [
      ['rsa-1', 'RS256'],
      ['ec-2', 'ES256'],
    ] as const) {
      const pair = await generateKeyPair(alg, { extractable: true });
      keys[kid] = { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' }, alg };
    }
    served = [keys['rsa-1']!.jwk];
    jwks = await startHttpServer((_req, _body, res) => sendJson(res, 200, { keys: served }));
    b = await startBroker({
      auth: { chain: [{ type: 'jwt', jwksUrl: `${jwks.url}/.well-known/jwks.json`, audience: 'midge', jwksCooldownMs: 0 }] },
    });
  });
  afterAll(async () => {
    await closeAllClients();
    await b.cleanup();
    await jwks.close();
  });

  const sign = (kid: string, sub: string): Promise<string> =>
    new SignJWT({ sub }).setProtectedHeader({ alg: keys[kid]!.alg, kid }).setExpirationTime(nowSec() + 600).setAudience('midge').sign(keys[kid]!.privateKey);

  it('accepts an RS256 token whose key is in the JWKS, fetching it once for many connects', async () => {
    for (let i = 0; i < 3; i++) {
      const { code, client } = await tryConnect(b.url, { clientId: 'sensor-1', password: await sign('rsa-1', 'sensor-1'), username: 'any', protocolVersion: 5 });
      expect(code).toBe(0);
      await client!.endAsync();
    }
    expect(jwks.requests).toBe(1);
  });

  it('after key rotation, a token signed with the new ES256 key is accepted (the JWKS is fetched again for the unknown kid)', async () => {
    const before = jwks.requests;
    served = [keys['ec-2']!.jwk];
    const { code, client } = await tryConnect(b.url, { clientId: 'sensor-2', password: await sign('ec-2', 'sensor-2'), username: 'any', protocolVersion: 5 });
    expect(code).toBe(0);
    await client!.endAsync();
    expect(jwks.requests).toBe(before + 1);
  });

  it('a token signed by a key the JWKS does not hold is refused', async () => {
    const pair = await generateKeyPair('ES256');
    const token = await new SignJWT({ sub: 'sensor-3' }).setProtectedHeader({ alg: 'ES256', kid: 'rogue' }).setExpirationTime(nowSec() + 600).setAudience('midge').sign(pair.privateKey);
    expect((await tryConnect(b.url, { clientId: 'sensor-3', password: token, username: 'any', protocolVersion: 5 })).code).toBe(0x86);
  });
});

describe('JWT with the JWKS endpoint down', () => {
  it('refuses with 0x88 server unavailable, not as a bad token', async () => {
    const { freePort } = await import('../helpers/ports.js');
    const port = await freePort(); // nothing listens there
    const b = await startBroker({ auth: { chain: [{ type: 'jwt', jwksUrl: `http://127.0.0.1:${port}/jwks.json`, jwksTimeoutMs: 2000 }] } });
    try {
      const pair = await generateKeyPair('ES256');
      const token = await new SignJWT({ sub: 'd' }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setExpirationTime('5m').sign(pair.privateKey);
      expect((await tryConnect(b.url, { clientId: 'd', username: 'd', password: token, protocolVersion: 5 })).code).toBe(0x88);
    } finally {
      await b.cleanup();
    }
  });
});
