/** MQTT over TLS (with and without client certificates), WebSocket and secure WebSocket. */
import net from 'node:net';
import { rm } from 'node:fs/promises';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import mqtt from 'mqtt';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient, connectCollecting } from '../helpers/clients.js';
import { makeTempDir } from '../helpers/temp.js';

let certs: TestCerts;
let tb: TestBroker;
const ports: Record<string, number> = {};
const extra: TestBroker[] = [];

beforeAll(async () => {
  certs = makeTestCerts(await makeTempDir('midge-certs-'));
  const tlsFiles = { cert: certs.serverCertFile, key: certs.serverKeyFile };
  tb = await startBroker({
    listeners: [
      { type: 'mqtt', host: '127.0.0.1', port: 0 },
      { type: 'mqtts', host: '127.0.0.1', port: 0, ...tlsFiles },
      { type: 'mqtts', host: '127.0.0.1', port: 0, ...tlsFiles, ca: certs.caFile, requireClientCert: true },
      { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt' },
      { type: 'wss', host: '127.0.0.1', port: 0, ...tlsFiles },
    ],
    auth: { useIdentityAsUsername: true },
  });
  const addresses = tb.broker.boundAddresses;
  ports.mqtt = addresses[0]!.port;
  ports.mqtts = addresses[1]!.port;
  ports.mtls = addresses[2]!.port;
  ports.ws = addresses[3]!.port;
  ports.wss = addresses[4]!.port;
});
afterAll(async () => {
  await tb.cleanup();
  await rm(certs.dir, { recursive: true, force: true });
});
afterEach(async () => {
  await closeAllClients();
  for (const b of extra.splice(0)) await b.cleanup();
});

async function roundTrip(url: string, options: mqtt.IClientOptions, id: string): Promise<void> {
  const { client, collector } = await connectCollecting(url, { clientId: `${id}-sub`, ...options });
  await client.subscribeAsync(`rt/${id}`, { qos: 1 });
  const plain = await connectClient(`mqtt://127.0.0.1:${ports.mqtt}`, { clientId: `${id}-pub` });
  await plain.publishAsync(`rt/${id}`, 'across transports', { qos: 1 });
  const [message] = await collector.waitFor(1);
  expect(message!.payload).toBe('across transports');
}

describe('transports', () => {
  it('mqtts: TLS with the test CA', async () => {
    await roundTrip(`mqtts://127.0.0.1:${ports.mqtts}`, { ca: certs.ca, rejectUnauthorized: true }, 'tls');
  });

  it('mqtts refuses TLS 1.1', async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: ports.mqtts, ca: certs.ca, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' });
    const error = await new Promise<Error>((resolve) => socket.once('error', resolve));
    expect(error.message).toMatch(/version|protocol|handshake|alert/i);
  });

  it('mutual TLS: no client certificate, or one from another CA, is refused; the CN becomes the user name', async () => {
    const noCert = mqtt.connect(`mqtts://127.0.0.1:${ports.mtls}`, { ca: certs.ca, reconnectPeriod: 0, connectTimeout: 3000 });
    const refused = await new Promise<string>((resolve) => {
      noCert.once('error', (e) => resolve(e.message));
      noCert.once('close', () => resolve('closed'));
    });
    noCert.end(true);
    expect(refused).not.toBe('');
    const stranger = mqtt.connect(`mqtts://127.0.0.1:${ports.mtls}`, { ca: certs.ca, cert: certs.strangerCert, key: certs.strangerKey, reconnectPeriod: 0, connectTimeout: 3000 });
    await new Promise<void>((resolve) => {
      stranger.once('error', () => resolve());
      stranger.once('close', () => resolve());
    });
    stranger.end(true);
    expect(stranger.connected).toBe(false);
    await connectClient(`mqtts://127.0.0.1:${ports.mtls}`, { clientId: 'cert-client', ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    const connection = tb.broker.admin.client('cert-client')!;
    expect(connection.info.certificateIdentity).toBe('device-7');
    expect(tb.broker.admin.session('cert-client')!.username).toBe('device-7');
  });

  it('[3.1.1 MQTT-6.0.0-4] [5.0 MQTT-6.0.0-4] ws: MQTT over WebSocket on /mqtt with subprotocol mqtt', async () => {
    await roundTrip(`ws://127.0.0.1:${ports.ws}/mqtt`, {}, 'ws');
    const ws = new WebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqtt']);
    await new Promise((resolve) => ws.once('open', resolve));
    expect(ws.protocol).toBe('mqtt');
    ws.close();
  });

  it('wss: secure WebSocket', async () => {
    await roundTrip(`wss://127.0.0.1:${ports.wss}/mqtt`, { ca: certs.ca, rejectUnauthorized: true }, 'wss');
  });

  it('a WebSocket upgrade on another path is refused (404)', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${ports.ws}/other`, ['mqtt']);
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', () => resolve(-1));
    });
    expect(status === 404 || status === -1).toBe(true);
    expect(ws.readyState).not.toBe(WebSocket.OPEN);
  });

  it('[3.1.1 MQTT-6.0.0-1] [5.0 MQTT-6.0.0-1] a text frame closes the WebSocket connection', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqtt']);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send('not binary');
    // Closed either by our 1003 or by the broker dropping the connection on the bytes it got.
    const code = await new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
    expect([1003, 1005, 1006]).toContain(code);
  });

  it('[3.1.1 MQTT-6.0.0-2] [5.0 MQTT-6.0.0-2] packets split across and joined within frames are read correctly', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqtt']);
    await new Promise((resolve) => ws.once('open', resolve));
    const connect = Buffer.from([0x10, 0x0f, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x00, 0x00, 0x03, 0x77, 0x73, 0x31]);
    const pingreq = Buffer.from([0xc0, 0x00]);
    const received: Buffer[] = [];
    ws.on('message', (data) => received.push(Buffer.from(data as Buffer)));
    ws.send(connect.subarray(0, 5));
    ws.send(Buffer.concat([connect.subarray(5), pingreq]));
    await expect.poll(() => Buffer.concat(received).length).toBe(6);
    expect([...Buffer.concat(received)]).toEqual([0x20, 0x02, 0x00, 0x00, 0xd0, 0x00]);
    ws.close();
  });

  it('random bytes at the TLS and WebSocket ports never hurt the broker', async () => {
    for (const port of [ports.mqtts, ports.ws, ports.wss]) {
      for (let i = 0; i < 10; i++) {
        const socket = net.connect(port!, '127.0.0.1');
        socket.on('error', () => undefined);
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.end(Buffer.from(Array.from({ length: 200 }, (_, j) => (i * 37 + j * 11) & 0xff)));
        await new Promise((resolve) => socket.once('close', resolve));
      }
    }
    await roundTrip(`mqtts://127.0.0.1:${ports.mqtts}`, { ca: certs.ca }, 'after-garbage');
  });

  it('a TLS listener without readable cert files fails with a clear error naming the listener', async () => {
    await expect(startBroker({ listeners: [{ type: 'mqtts', host: '127.0.0.1', port: 0, cert: '/nonexistent.pem', key: '/nonexistent.key' }] })).rejects.toThrow(/mqtts 127\.0\.0\.1:0.*cannot read TLS files/);
  });
});
