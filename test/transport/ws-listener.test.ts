/**
 * WebSocketListener driven by a real broker: MQTT over ws and wss (spec section 6), the path and
 * subprotocol rules, X-Forwarded-For behind a trusted proxy, and hostile input.
 */
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Broker } from '../../src/broker/index.js';
import { forwardedClient, TcpListener, WebSocketListener } from '../../src/transport/index.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { closeAllClients, connectClient, connectCollecting } from '../helpers/clients.js';
import { makeTempDir } from '../helpers/temp.js';
import { connectPacket, roundTrip as roundTripVia, startBrokerOn } from './support.js';

let certs: TestCerts;
let broker: Broker;
let listeners: Record<'plain' | 'ws' | 'proxied' | 'wss' | 'mwss', TcpListener | WebSocketListener>;
let ports: Record<keyof typeof listeners, number>;
const opened = new Set<WebSocket | net.Socket>();

beforeAll(async () => {
  certs = makeTestCerts(await makeTempDir('midge-ws-'));
  const server = { host: '127.0.0.1', port: 0 };
  listeners = {
    plain: new TcpListener({ host: '127.0.0.1', port: 0 }),
    ws: new WebSocketListener({ ...server }),
    proxied: new WebSocketListener({ ...server, path: '/broker', trustProxy: true }),
    wss: new WebSocketListener({ ...server, tls: { cert: certs.serverCertFile, key: certs.serverKeyFile } }),
    mwss: new WebSocketListener({ ...server, tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, requireClientCert: true } }),
  };
  ({ broker, ports } = await startBrokerOn(listeners));
});

afterAll(async () => {
  await broker?.close();
  if (certs) await rm(certs.dir, { recursive: true, force: true });
});

afterEach(async () => {
  await closeAllClients();
  for (const socket of opened) socket instanceof WebSocket ? socket.terminate() : socket.destroy();
  opened.clear();
});

async function openWebSocket(url: string, protocols: string[] = ['mqtt'], options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, options);
  opened.add(ws);
  ws.on('error', () => undefined);
  await once(ws, 'open');
  return ws;
}

/** CONNECT in one binary frame; resolves with the CONNACK bytes. */
async function mqttConnect(ws: WebSocket, clientId: string): Promise<Buffer> {
  ws.send(connectPacket(clientId));
  const [data] = (await once(ws, 'message')) as [Buffer];
  return data;
}

const roundTrip = (url: string, options: mqtt.IClientOptions, id: string): Promise<void> =>
  roundTripVia(url, options, id, `mqtt://127.0.0.1:${ports.plain}`);

/** A WebSocket upgrade request written by hand to the ws port; resolves with the first response bytes. */
async function rawUpgrade(target: string): Promise<{ socket: net.Socket; response: string }> {
  const socket = net.connect(ports.ws, '127.0.0.1');
  opened.add(socket);
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write(
    `GET ${target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n',
  );
  const [data] = (await once(socket, 'data')) as [Buffer];
  return { socket, response: data.toString('latin1') };
}

/** The status a non-upgrading answer carries, or -1 when the socket just closed. */
async function refusedStatus(ws: WebSocket): Promise<number> {
  return new Promise<number>((resolve) => {
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('error', () => resolve(-1));
  });
}

describe('WebSocketListener', () => {
  it('ws: publish/subscribe round trip on /mqtt', async () => {
    expect(listeners.ws.description).toBe(`ws://127.0.0.1:${ports.ws}/mqtt`);
    await roundTrip(`ws://127.0.0.1:${ports.ws}/mqtt`, {}, 'ws');
  });

  it('wss: publish/subscribe round trip, TLS material read from file paths', async () => {
    expect(listeners.wss.description).toBe(`wss://127.0.0.1:${ports.wss}/mqtt`);
    await roundTrip(`wss://127.0.0.1:${ports.wss}/mqtt`, { ca: certs.ca, rejectUnauthorized: true }, 'wss');
  });

  it('wss with mutual TLS: no certificate is refused; the CN of a verified one is the identity', async () => {
    const refused = mqtt.connect(`wss://127.0.0.1:${ports.mwss}/mqtt`, { ca: certs.ca, reconnectPeriod: 0, connectTimeout: 3000, clientId: 'wss-no-cert' });
    await new Promise<void>((resolve) => {
      refused.once('error', () => resolve());
      refused.once('close', () => resolve());
    });
    refused.end(true);
    expect(broker.admin.isConnected('wss-no-cert')).toBe(false);
    await connectClient(`wss://127.0.0.1:${ports.mwss}/mqtt`, { clientId: 'wss-cert', ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
    expect(broker.admin.client('wss-cert')!.info.certificateIdentity).toBe('device-7');
  });

  it('[3.1.1 MQTT-6.0.0-4] [5.0 MQTT-6.0.0-4] the server selects the subprotocol mqtt, and mqttv3.1 for old clients', async () => {
    expect((await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqtt'])).protocol).toBe('mqtt');
    expect((await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqttv3.1'])).protocol).toBe('mqttv3.1');
    expect((await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqttv3.1', 'mqtt'])).protocol).toBe('mqtt');
  });

  it('an upgrade on another path is refused with 404; a plain HTTP request gets 426', async () => {
    expect(await refusedStatus(new WebSocket(`ws://127.0.0.1:${ports.ws}/other`, ['mqtt']))).toBe(404);
    expect(await refusedStatus(new WebSocket(`ws://127.0.0.1:${ports.proxied}/mqtt`, ['mqtt']))).toBe(404);
    const status = await new Promise<number>((resolve, reject) => {
      http.get(`http://127.0.0.1:${ports.ws}/mqtt`, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(status).toBe(426);
  });

  it('an upgrade request whose target is no valid URL (//) gets 404, not a crash', async () => {
    const { response } = await rawUpgrade('//');
    expect(response).toMatch(/^HTTP\/1\.1 404/);
    await roundTrip(`ws://127.0.0.1:${ports.ws}/mqtt`, {}, 'after-bad-url');
  });

  it('[3.1.1 MQTT-6.0.0-1] [5.0 MQTT-6.0.0-1] a text frame closes the connection (1003) and its bytes are never read as MQTT', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`);
    const received: Buffer[] = [];
    ws.on('message', (data) => received.push(data as Buffer));
    // A complete, valid CONNECT (every byte below 0x80, so valid UTF-8) sent as text.
    ws.send(connectPacket('text-frame').toString('latin1'));
    const [code] = (await once(ws, 'close')) as [number];
    expect(code).toBe(1003);
    expect(received).toEqual([]);
    expect(broker.admin.isConnected('text-frame')).toBe(false);
  });

  it('[3.1.1 MQTT-6.0.0-1] [5.0 MQTT-6.0.0-1] a text frame carrying CONNECT and a retained PUBLISH has no effect', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`);
    const publish = mqttPacket.generate({ cmd: 'publish', topic: 'leak/text', payload: Buffer.from('x'), qos: 0, retain: true, dup: false });
    ws.send(Buffer.concat([connectPacket('text-publisher'), publish]).toString('latin1'));
    await once(ws, 'close');
    const { client, collector } = await connectCollecting(`mqtt://127.0.0.1:${ports.plain}`, { clientId: 'leak-watcher' });
    await client.subscribeAsync('leak/#');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(collector.messages).toEqual([]);
  });

  it('[3.1.1 MQTT-6.0.0-1] [5.0 MQTT-6.0.0-1] binary frames after a text frame are not read either', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`);
    ws.send('hello');
    ws.send(connectPacket('after-text'));
    await once(ws, 'close');
    expect(broker.admin.isConnected('after-text')).toBe(false);
  });

  it('[3.1.1 MQTT-6.0.0-2] [5.0 MQTT-6.0.0-2] a packet split across frames, and two packets in one frame, are read', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`);
    const received: Buffer[] = [];
    ws.on('message', (data) => received.push(data as Buffer));
    const connect = connectPacket('split-frames');
    ws.send(connect.subarray(0, 3));
    ws.send(Buffer.concat([connect.subarray(3), Buffer.from([0xc0, 0x00])])); // rest of CONNECT + PINGREQ
    await expect.poll(() => Buffer.concat(received).length).toBe(6);
    expect([...Buffer.concat(received)]).toEqual([0x20, 0x02, 0x00, 0x00, 0xd0, 0x00]);
  });

  it('trustProxy: the client address is the last X-Forwarded-For entry', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${ports.proxied}/broker`, ['mqtt'], { headers: { 'x-forwarded-for': '192.0.2.66, 203.0.113.9' } });
    expect([...(await mqttConnect(ws, 'forwarded'))]).toEqual([0x20, 0x02, 0x00, 0x00]);
    expect(broker.admin.client('forwarded')!.remoteAddress).toBe('203.0.113.9:0');
  });

  it('without trustProxy, X-Forwarded-For is ignored', async () => {
    const ws = await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqtt'], { headers: { 'x-forwarded-for': '203.0.113.9' } });
    await mqttConnect(ws, 'not-forwarded');
    expect(broker.admin.client('not-forwarded')!.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('random bytes at the ws and wss ports, and a WebSocket protocol error, never hurt the broker', async () => {
    for (const port of [ports.ws, ports.wss, ports.mwss]) {
      for (let i = 0; i < 8; i++) {
        const socket = net.connect(port, '127.0.0.1');
        opened.add(socket);
        socket.on('error', () => undefined);
        await once(socket, 'connect');
        const noise = Buffer.from(Array.from({ length: 300 }, (_, j) => (i * 41 + j * 13 + 3) & 0xff));
        if (i % 2 === 0) noise.set(Buffer.from('GET /mqtt HTTP/1.1\r\n'), 0);
        socket.end(noise);
        await Promise.race([once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, 100))]);
        socket.destroy();
      }
    }
    // A valid upgrade, then an unmasked frame: a protocol error inside ws (close 1002).
    const { socket, response } = await rawUpgrade('/mqtt');
    expect(response).toMatch(/^HTTP\/1\.1 101/);
    socket.write(Buffer.from([0x82, 0x02, 0xc0, 0x00]));
    await once(socket, 'close');
    await roundTrip(`ws://127.0.0.1:${ports.ws}/mqtt`, {}, 'after-noise');
  });
});

describe('WebSocketListener on its own', () => {
  it('close() does not wait for a connection that never upgraded', async () => {
    const listener = new WebSocketListener({ host: '127.0.0.1', port: 0 });
    const { port } = await listener.start(() => undefined);
    const socket = net.connect(port, '127.0.0.1');
    opened.add(socket);
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.write('GET /mqtt HTTP/1.1\r\nHost: x\r\n'); // headers never finish
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await listener.close();
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('forwardedClient reads the last X-Forwarded-For entry, with or without a port', () => {
    expect(forwardedClient(undefined)).toBeUndefined();
    expect(forwardedClient('203.0.113.9')).toBe('203.0.113.9:0');
    expect(forwardedClient('10.0.0.1, 2001:db8::7')).toBe('2001:db8::7:0');
    expect(forwardedClient('10.0.0.1, 198.51.100.2:4711')).toBe('198.51.100.2:4711');
    expect(forwardedClient('[2001:db8::7]:4711')).toBe('2001:db8::7:4711');
    expect(forwardedClient(['10.0.0.1', '203.0.113.9'])).toBe('203.0.113.9:0');
    expect(forwardedClient('unknown')).toBeUndefined();
    expect(forwardedClient('203.0.113.9, ')).toBeUndefined();
  });
});
