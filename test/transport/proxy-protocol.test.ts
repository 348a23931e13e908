/** PROXY protocol v1/v2 on a TCP listener: the broker sees the client's real address. */
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProxyHeader, ProxyProtocolError, readProxyHeader } from '../../src/transport/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectPacket as connect, v2Header } from './support.js';

let tb: TestBroker;
beforeAll(async () => {
  tb = await startBroker({ listeners: [{ type: 'mqtt', host: '127.0.0.1', port: 0, proxyProtocol: true }] });
});
afterAll(async () => {
  await tb.cleanup();
});

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
    expect(tb.broker.admin.client('via-v1')!.remoteAddress).toBe('203.0.113.7:51234');
    socket.destroy();
  });

  it('v2 (binary), with the header and CONNECT in separate writes', async () => {
    const socket = net.connect(tb.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(v2Header([198, 51, 100, 9], 40000).subarray(0, 10));
    socket.write(Buffer.concat([v2Header([198, 51, 100, 9], 40000).subarray(10), connect('via-v2')]));
    await once(socket, 'data');
    expect(tb.broker.admin.client('via-v2')!.remoteAddress).toBe('198.51.100.9:40000');
    socket.destroy();
  });

  it('a connection without a valid header is closed', async () => {
    const socket = net.connect(tb.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.on('error', () => undefined);
    socket.write(connect('no-header'));
    await once(socket, 'close');
    expect(tb.broker.admin.isConnected('no-header')).toBe(false);
  });

  it('parser: partial input waits, garbage throws, UNKNOWN carries no address', () => {
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4'))).toBeUndefined();
    expect(() => parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow();
    expect(() => parseProxyHeader(Buffer.from('PROXY ' + 'x'.repeat(200)))).toThrow(/too long/);
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\nrest'))).toEqual({ remoteAddress: undefined, rest: Buffer.from('rest') });
  });

  it('parser: v1 TCP6, and v1 lines with bad addresses, ports or length are refused', () => {
    expect(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 4711 8883\r\n'))!.remoteAddress).toBe('2001:db8::7:4711');
    expect(() => parseProxyHeader(Buffer.from('PROXY TCP4 not-an-ip 10.0.0.1 1 2\r\n'))).toThrow(ProxyProtocolError);
    expect(() => parseProxyHeader(Buffer.from('PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n'))).toThrow(/address/);
    expect(() => parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 10.0.0.1 70000 2\r\n'))).toThrow(/port/);
    expect(() => parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 10.0.0.1 0x10 2\r\n'))).toThrow(/port/);
    expect(() => parseProxyHeader(Buffer.from(`PROXY UNKNOWN ${'x'.repeat(120)}\r\n`))).toThrow(/too long/);
  });

  it('parser: v2 IPv6 (in Node\'s compressed form), LOCAL, AF_UNIX, and bad commands or lengths', () => {
    const v6 = Buffer.alloc(16 + 36);
    v2Header([0, 0, 0, 0], 0).copy(v6, 0, 0, 12);
    v6[12] = 0x21;
    v6[13] = 0x21; // AF_INET6, STREAM
    v6.writeUInt16BE(36, 14);
    Buffer.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07]).copy(v6, 16);
    v6.writeUInt16BE(4711, 16 + 32);
    expect(parseProxyHeader(Buffer.concat([v6, Buffer.from('mqtt')]))).toEqual({ remoteAddress: '2001:db8::7:4711', rest: Buffer.from('mqtt') });
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]).copy(v6, 16);
    expect(parseProxyHeader(v6)!.remoteAddress).toBe('::ffff:192.0.2.1:4711');

    const local = v2Header([1, 2, 3, 4], 1);
    local[12] = 0x20; // v2, LOCAL
    expect(parseProxyHeader(Buffer.concat([local, Buffer.from([0x10])]))).toEqual({ remoteAddress: undefined, rest: Buffer.from([0x10]) });
    const unix = v2Header([1, 2, 3, 4], 1);
    unix[13] = 0x31; // AF_UNIX
    expect(parseProxyHeader(unix)!.remoteAddress).toBeUndefined();
    const badCommand = v2Header([1, 2, 3, 4], 1);
    badCommand[12] = 0x22;
    expect(() => parseProxyHeader(badCommand)).toThrow(/command/);
    const truncated = v2Header([1, 2, 3, 4], 1);
    truncated.writeUInt16BE(4, 14);
    expect(() => parseProxyHeader(truncated)).toThrow(/truncated/);
    const huge = v2Header([1, 2, 3, 4], 1);
    huge.writeUInt16BE(60000, 14);
    expect(() => parseProxyHeader(huge)).toThrow(/too long/);
  });

  it('readProxyHeader gives up after its timeout, and leaves the bytes after the header to the next reader', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    try {
      const silent = net.connect(port, '127.0.0.1');
      const [accepted] = (await once(server, 'connection')) as [net.Socket];
      const started = Date.now();
      await expect(readProxyHeader(accepted, 100)).rejects.toThrow(/in time/);
      expect(Date.now() - started).toBeLessThan(1000);
      accepted.destroy();
      silent.destroy();

      const client = net.connect(port, '127.0.0.1');
      const [socket] = (await once(server, 'connection')) as [net.Socket];
      client.write(Buffer.from('PROXY TCP4 192.0.2.5 10.0.0.1 1234 1883\r\nafter'));
      const header = await readProxyHeader(socket);
      expect(header.remoteAddress).toBe('192.0.2.5:1234');
      expect(socket.isPaused()).toBe(true);
      expect(socket.read()?.toString()).toBe('after');
      socket.destroy();
      client.destroy();
    } finally {
      server.close();
    }
  });
});
