/**
 * Per-listener chains through real sockets: anonymous on a loopback MQTT listener, mTLS only on
 * an mqtts listener, JWT only on a WebSocket listener. A credential good on one listener is
 * refused on another.
 */
import { rm } from 'node:fs/promises';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { closeAllClients } from '../helpers/clients.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { makeTempDir } from '../helpers/temp.js';
import { tryConnect } from './helpers.js';

const SECRET = 'per-listener-secret-0123456789abcd';
const token = (sub: string): Promise<string> =>
  new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').setAudience('midge').sign(new TextEncoder().encode(SECRET));

describe('per-listener chains', () => {
  let certs: TestCerts;
  let b: TestBroker;
  const urls = { local: '', mtls: '', ws: '' };

  beforeAll(async () => {
    certs = makeTestCerts(await makeTempDir('midge-listener-certs-'));
    b = await startBroker({
      listeners: [
        { type: 'mqtt', host: '127.0.0.1', port: 0, authChain: 'local' },
        { type: 'mqtts', host: '127.0.0.1', port: 0, cert: certs.serverCertFile, key: certs.serverKeyFile, ca: certs.caFile, authChain: 'mtls' },
        { type: 'ws', host: '127.0.0.1', port: 0, authChain: 'devices' },
      ],
      auth: {
        chains: {
          local: { chain: [{ type: 'anonymous' }] },
          mtls: { chain: [{ type: 'certificate' }] },
          devices: { chain: [{ type: 'jwt', secret: SECRET, audience: 'midge' }] },
        },
      },
    });
    const [local, mtls, ws] = b.broker.boundAddresses;
    urls.local = `mqtt://127.0.0.1:${local!.port}`;
    urls.mtls = `mqtts://127.0.0.1:${mtls!.port}`;
    urls.ws = `ws://127.0.0.1:${ws!.port}/mqtt`;
  });
  afterAll(async () => {
    await closeAllClients();
    await b.cleanup();
    await rm(certs.dir, { recursive: true, force: true });
  });

  it('anonymous on the loopback listener; a JWT there is not a credential it knows (0x86)', async () => {
    const ok = await tryConnect(urls.local, { clientId: 'a1', protocolVersion: 5 });
    expect(ok.code).toBe(0);
    await ok.client!.endAsync();
    expect((await tryConnect(urls.local, { clientId: 'dev-1', username: 'dev-1', password: await token('dev-1'), protocolVersion: 5 })).code).toBe(0x86);
  });

  it('mTLS only on the mqtts listener: a client certificate connects, TLS without one is refused (0x87)', async () => {
    const withCert = await tryConnect(urls.mtls, { clientId: 'm1', protocolVersion: 5, ca: certs.ca, cert: certs.clientCert, key: certs.clientKey, rejectUnauthorized: true });
    expect(withCert.code).toBe(0);
    await withCert.client!.endAsync();
    // The certificate entry: a user name other than the certificate's identity is refused.
    const otherName = await tryConnect(urls.mtls, { clientId: 'm2', username: 'admin', password: 'x', protocolVersion: 5, ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    expect(otherName.code).toBe(0x86);
    const noCert = await tryConnect(urls.mtls, { clientId: 'm3', protocolVersion: 5, ca: certs.ca, rejectUnauthorized: true });
    expect(noCert.code).toBe(0x87);
  });

  it('JWT only on the WebSocket listener: a token connects, anonymous is refused (0x87)', async () => {
    const ok = await tryConnect(urls.ws, { clientId: 'dev-2', username: 'dev-2', password: await token('dev-2'), protocolVersion: 5 });
    expect(ok.code).toBe(0);
    await ok.client!.endAsync();
    expect((await tryConnect(urls.ws, { clientId: 'anon', protocolVersion: 5 })).code).toBe(0x87);
  });
});
