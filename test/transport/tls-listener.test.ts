/**
 * TlsListener driven by a real broker: TLS 1.2+, mutual TLS and the certificate identity, PROXY
 * protocol in front of the handshake, and hostile input that must never crash the process.
 */
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/index.js';
import { TcpListener, TlsListener } from '../../src/transport/index.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { closeAllClients, connectClient } from '../helpers/clients.js';
import { makeTempDir } from '../helpers/temp.js';
import { connectPacket, roundTrip as roundTripVia, startBrokerOn, v2Header } from './support.js';

let certs: TestCerts;
let broker: Broker;
let listeners: Record<'plain' | 'tls' | 'mtls' | 'optional' | 'proxied', TcpListener | TlsListener>;
let ports: Record<keyof typeof listeners, number>;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  certs = makeTestCerts(await makeTempDir('midge-tls-'));
  const server = { host: '127.0.0.1', port: 0 };
  listeners = {
    plain: new TcpListener({ host: '127.0.0.1', port: 0 }),
    // Paths for one listener, buffers for the others: both are accepted.
    tls: new TlsListener({ ...server, cert: certs.serverCertFile, key: certs.serverKeyFile }),
    mtls: new TlsListener({ ...server, cert: certs.serverCert, key: certs.serverKey, ca: certs.caFile, requireClientCert: true }),
    optional: new TlsListener({ ...server, cert: certs.serverCert, key: certs.serverKey, ca: certs.ca }),
    proxied: new TlsListener({ ...server, cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, proxyProtocol: true }),
  };
  ({ broker, ports } = await startBrokerOn(listeners));
});

afterAll(async () => {
  await broker?.close();
  if (certs) await rm(certs.dir, { recursive: true, force: true });
});

afterEach(async () => {
  await closeAllClients();
  for (const socket of sockets) socket.destroy();
  sockets.clear();
});

function track<T extends net.Socket>(socket: T): T {
  sockets.add(socket);
  socket.on('error', () => undefined);
  return socket;
}

/** Sends CONNECT on an open (TLS) socket and expects CONNACK accepted. */
async function expectConnack(socket: net.Socket, clientId: string): Promise<void> {
  socket.write(connectPacket(clientId));
  const [data] = (await once(socket, 'data')) as [Buffer];
  expect([...data.subarray(0, 4)]).toEqual([0x20, 0x02, 0x00, 0x00]);
}

/** An MQTT.js connection that must not get a CONNACK: resolves once it failed. */
async function expectRefused(url: string, options: mqtt.IClientOptions): Promise<void> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3000, ...options });
  let wasConnected = false;
  client.on('connect', () => (wasConnected = true));
  await new Promise<void>((resolve) => {
    client.once('error', () => resolve());
    client.once('close', () => resolve());
  });
  client.end(true);
  expect(wasConnected).toBe(false);
}

const roundTrip = (url: string, options: mqtt.IClientOptions, id: string): Promise<void> =>
  roundTripVia(url, options, id, `mqtt://127.0.0.1:${ports.plain}`);

/** TCP to the proxied listener, the PROXY header, then TLS on the same socket, as HAProxy would. */
async function tlsBehindProxy(header: Buffer, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const raw = track(net.connect(ports.proxied, '127.0.0.1'));
  await once(raw, 'connect');
  raw.write(header);
  const socket = track(tls.connect({ socket: raw, ca: certs.ca, servername: 'localhost', ...options }));
  await once(socket, 'secureConnect');
  return socket;
}

describe('TlsListener', () => {
  it('mqtts: publish/subscribe round trip, cert and key read from file paths', async () => {
    expect(listeners.tls.description).toBe(`mqtts://127.0.0.1:${ports.tls}`);
    await roundTrip(`mqtts://127.0.0.1:${ports.tls}`, { ca: certs.ca, rejectUnauthorized: true }, 'tls');
  });

  it('refuses a TLS 1.1 client; the same client with TLS 1.2 gets in', async () => {
    const old = track(tls.connect({ host: '127.0.0.1', port: ports.tls, ca: certs.ca, servername: 'localhost', minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }));
    const [error] = (await once(old, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
    expect(`${error.code} ${error.message}`).toMatch(/PROTOCOL_VERSION|protocol version/i);
    const current = track(tls.connect({ host: '127.0.0.1', port: ports.tls, ca: certs.ca, servername: 'localhost', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }));
    await once(current, 'secureConnect');
    expect(current.getProtocol()).toBe('TLSv1.2');
  });

  it('mutual TLS: a client without a certificate is refused', async () => {
    await expectRefused(`mqtts://127.0.0.1:${ports.mtls}`, { ca: certs.ca, clientId: 'no-cert' });
    expect(broker.admin.isConnected('no-cert')).toBe(false);
  });

  it('mutual TLS: a certificate signed by another CA is refused', async () => {
    await expectRefused(`mqtts://127.0.0.1:${ports.mtls}`, { ca: certs.ca, cert: certs.strangerCert, key: certs.strangerKey, clientId: 'stranger' });
    expect(broker.admin.isConnected('stranger')).toBe(false);
  });

  it('mutual TLS: a verified certificate is accepted and its CN is the certificate identity', async () => {
    await roundTrip(`mqtts://127.0.0.1:${ports.mtls}`, { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey }, 'mtls');
    expect(broker.admin.client('mtls-sub')!.info.certificateIdentity).toBe('device-7');
  });

  it('without a subject CN the identity is the first DNS/email/URI SAN (an IP SAN is skipped)', async () => {
    await connectClient(`mqtts://127.0.0.1:${ports.mtls}`, { clientId: 'san-only', ca: certs.ca, cert: certs.sanOnlyCert, key: certs.sanOnlyKey });
    expect(broker.admin.client('san-only')!.info.certificateIdentity).toBe('sensor-9.devices.example');
  });

  it('optional client certificate (ca without requireClientCert): none gives no identity, a valid one does', async () => {
    await connectClient(`mqtts://127.0.0.1:${ports.optional}`, { clientId: 'anonymous-tls', ca: certs.ca });
    expect(broker.admin.client('anonymous-tls')!.info.certificateIdentity).toBeUndefined();
    await connectClient(`mqtts://127.0.0.1:${ports.optional}`, { clientId: 'cert-tls', ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    expect(broker.admin.client('cert-tls')!.info.certificateIdentity).toBe('device-7');
    // A certificate the CA did not sign is not an identity, even where certificates are optional.
    await connectClient(`mqtts://127.0.0.1:${ports.optional}`, { clientId: 'unverified-tls', ca: certs.ca, cert: certs.strangerCert, key: certs.strangerKey });
    expect(broker.admin.client('unverified-tls')!.info.certificateIdentity).toBeUndefined();
  });

  it('PROXY v1 before the handshake: the header address is the client address', async () => {
    const socket = await tlsBehindProxy(Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 8883\r\n'));
    await expectConnack(socket, 'proxied-v1');
    expect(broker.admin.client('proxied-v1')!.remoteAddress).toBe('203.0.113.7:51234');
  });

  it('PROXY v2 before the handshake, with a client certificate: address and identity both come through', async () => {
    const socket = await tlsBehindProxy(v2Header([198, 51, 100, 9], 40000, 8883), { cert: certs.clientCert, key: certs.clientKey });
    await expectConnack(socket, 'proxied-v2');
    const connection = broker.admin.client('proxied-v2')!;
    expect(connection.remoteAddress).toBe('198.51.100.9:40000');
    expect(connection.info.certificateIdentity).toBe('device-7');
  });

  it('PROXY v1 and the ClientHello in one write, as a forwarding balancer sends them', async () => {
    // A minimal HAProxy: prepend the header to the client's first bytes, then relay both ways.
    const balancer = net.createServer((client) => {
      track(client);
      const upstream = track(net.connect(ports.proxied, '127.0.0.1'));
      client.once('data', (first: Buffer) => {
        upstream.write(Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.44 10.0.0.1 61000 8883\r\n'), first]));
        client.pipe(upstream).pipe(client);
      });
    });
    balancer.listen(0, '127.0.0.1');
    await once(balancer, 'listening');
    try {
      const port = (balancer.address() as net.AddressInfo).port;
      await connectClient(`mqtts://127.0.0.1:${port}`, { clientId: 'via-balancer', ca: certs.ca });
      expect(broker.admin.client('via-balancer')!.remoteAddress).toBe('192.0.2.44:61000');
    } finally {
      await closeAllClients();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => balancer.close(resolve));
    }
  });

  it('PROXY required: a TLS client that sends no header is closed', async () => {
    const socket = track(tls.connect({ host: '127.0.0.1', port: ports.proxied, ca: certs.ca, servername: 'localhost' }));
    const outcome = await Promise.race([
      once(socket, 'secureConnect').then(
        () => 'connected',
        () => 'failed',
      ),
      once(socket, 'close').then(() => 'failed'),
    ]);
    expect(outcome).toBe('failed');
    expect(socket.destroyed || socket.readyState !== 'open').toBe(true);
  });

  it('random bytes at every TLS port never hurt the broker', async () => {
    for (const port of [ports.tls, ports.mtls, ports.optional, ports.proxied]) {
      for (let i = 0; i < 8; i++) {
        const socket = track(net.connect(port, '127.0.0.1'));
        await once(socket, 'connect');
        // Half of them start like a TLS record, so the handshake parser gets past the first byte.
        const noise = Buffer.from(Array.from({ length: 300 }, (_, j) => (i * 53 + j * 29 + 7) & 0xff));
        if (i % 2 === 0) noise.set([0x16, 0x03, 0x01, 0x01, 0x00], 0);
        socket.end(noise);
        // A record that looks like the start of a ClientHello leaves the server waiting for the
        // rest (until handshakeTimeoutMs); either way the socket must not take the process down.
        await Promise.race([once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, 100))]);
        socket.destroy();
      }
    }
    await roundTrip(`mqtts://127.0.0.1:${ports.tls}`, { ca: certs.ca }, 'after-noise');
  });
});

describe('TlsListener on its own', () => {
  const noAccept = (): void => undefined;

  it('a client silent after connecting is dropped after handshakeTimeoutMs', async () => {
    const listener = new TlsListener({ host: '127.0.0.1', port: 0, cert: certs.serverCert, key: certs.serverKey, handshakeTimeoutMs: 200 });
    const { port } = await listener.start(noAccept);
    const socket = track(net.connect(port, '127.0.0.1'));
    await once(socket, 'connect');
    const started = Date.now();
    await once(socket, 'close');
    expect(Date.now() - started).toBeLessThan(2000);
    await listener.close();
  });

  it('close() does not wait for connections still in the handshake or awaiting a PROXY header', async () => {
    for (const proxyProtocol of [false, true]) {
      const listener = new TlsListener({ host: '127.0.0.1', port: 0, cert: certs.serverCert, key: certs.serverKey, proxyProtocol });
      const { port } = await listener.start(noAccept);
      const socket = track(net.connect(port, '127.0.0.1'));
      await once(socket, 'connect');
      await new Promise((resolve) => setTimeout(resolve, 50)); // let the server see it
      const started = Date.now();
      await listener.close();
      expect(Date.now() - started).toBeLessThan(1000);
    }
  });

  it('requireClientCert without a ca fails to start', async () => {
    const listener = new TlsListener({ host: '127.0.0.1', port: 0, cert: certs.serverCert, key: certs.serverKey, requireClientCert: true });
    await expect(listener.start(noAccept)).rejects.toThrow(/needs ca/);
  });

  it('an unreadable cert path fails to start', async () => {
    const listener = new TlsListener({ host: '127.0.0.1', port: 0, cert: '/nonexistent/server.pem', key: certs.serverKey });
    await expect(listener.start(noAccept)).rejects.toThrow(/ENOENT/);
  });
});
