/** PROXY protocol v1/v2 on a TCP listener: the broker sees the client's real address. */
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import { parseProxyHeader } from '../../src/transport/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';

let tb: TestBroker;
beforeAll(async () => {
  tb = await startBroker({ listeners: [{ type: 'mqtt', host: '127.0.0.1', port: 0, proxyProtocol: true }] });
});
afterAll(async () => {
  await tb.cleanup();
});

const connect = (clientId: string): Buffer => mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 0 });

function v2Header(ip: number[], port: number): Buffer {
  const header = Buffer.alloc(16 + 12);
  Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]).copy(header, 0);
  header[12] = 0x21; // v2, PROXY
  header[13] = 0x11; // AF_INET, STREAM
  header.writeUInt16BE(12, 14);
  Buffer.from(ip).copy(header, 16);
  Buffer.from([10, 0, 0, 1]).copy(header, 20);
  header.writeUInt16BE(port, 24);
  header.writeUInt16BE(1883, 26);
  return header;
}

async function sendAndAwaitConnack(bytes: Buffer): Promise<net.Socket> {
  const socket = net.connect(tb.port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(bytes);
  const [data] = (await once(socket, 'data')) as [Buffer];
  expect([...data.subarray(0, 4)]).toEqual([0x20, 0x02, 0x00, 0x00]);
  return socket;
}

describe('PROXY protocol', () => {
  it('v1: the address in the header is the client address', async () => {
    const socket = await sendAndAwaitConnack(Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 1883\r\n'), connect('via-v1')]));
    expect(tb.broker.clients.get('via-v1')!.remoteAddress).toBe('203.0.113.7:51234');
    socket.destroy();
  });

  it('v2 (binary), with the header and CONNECT in separate writes', async () => {
    const socket = net.connect(tb.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(v2Header([198, 51, 100, 9], 40000).subarray(0, 10));
    socket.write(Buffer.concat([v2Header([198, 51, 100, 9], 40000).subarray(10), connect('via-v2')]));
    await once(socket, 'data');
    expect(tb.broker.clients.get('via-v2')!.remoteAddress).toBe('198.51.100.9:40000');
    socket.destroy();
  });

  it('a connection without a valid header is closed', async () => {
    const socket = net.connect(tb.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.on('error', () => undefined);
    socket.write(connect('no-header'));
    await once(socket, 'close');
    expect(tb.broker.clients.has('no-header')).toBe(false);
  });

  it('parser: partial input waits, garbage throws, UNKNOWN carries no address', () => {
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4'))).toBeUndefined();
    expect(() => parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow();
    expect(() => parseProxyHeader(Buffer.from('PROXY ' + 'x'.repeat(200)))).toThrow(/too long/);
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\nrest'))).toEqual({ remoteAddress: undefined, rest: Buffer.from('rest') });
  });
});
