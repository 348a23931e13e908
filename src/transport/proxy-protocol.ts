/**
 * HAProxy PROXY protocol v1 (text) and v2 (binary) headers, read at the start of a connection from
 * a load balancer so logs and ACLs see the real client address. Bounded in size and time; a
 * connection without a valid header is closed.
 */
import type { Socket } from 'node:net';

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_MAX = 107; // the spec's longest v1 line, CRLF included
const V2_MAX = 16 + 1024; // addresses and a little TLV room; longer is refused

export interface ProxyHeader {
  /** "address:port" of the original client, or undefined for LOCAL/UNKNOWN (health checks). */
  remoteAddress: string | undefined;
  /** Bytes after the header: the start of the MQTT stream. */
  rest: Buffer;
}

export class ProxyProtocolError extends Error {}

/** Parses a complete header from `data`, or returns undefined when more bytes are needed. */
export function parseProxyHeader(data: Buffer): ProxyHeader | undefined {
  if (data.length >= 12 && data.subarray(0, 12).equals(V2_SIGNATURE)) return parseV2(data);
  if (data.length < 12 && V2_SIGNATURE.subarray(0, data.length).equals(data)) return undefined;
  if (!data.subarray(0, Math.min(6, data.length)).equals(Buffer.from('PROXY ').subarray(0, Math.min(6, data.length)))) {
    throw new ProxyProtocolError('no PROXY protocol header');
  }
  const end = data.indexOf('\r\n');
  if (end < 0) {
    if (data.length > V1_MAX) throw new ProxyProtocolError('PROXY v1 line too long');
    return undefined;
  }
  const parts = data.subarray(0, end).toString('latin1').split(' ');
  const rest = data.subarray(end + 2);
  if (parts[1] === 'UNKNOWN') return { remoteAddress: undefined, rest };
  if ((parts[1] !== 'TCP4' && parts[1] !== 'TCP6') || parts.length !== 6) throw new ProxyProtocolError('malformed PROXY v1 line');
  const port = Number(parts[4]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ProxyProtocolError('bad source port');
  return { remoteAddress: `${parts[2]}:${port}`, rest };
}

function parseV2(data: Buffer): ProxyHeader | undefined {
  if (data.length < 16) return undefined;
  const versionCommand = data[12]!;
  if (versionCommand >> 4 !== 2) throw new ProxyProtocolError('unsupported PROXY v2 version');
  const length = data.readUInt16BE(14);
  if (16 + length > V2_MAX) throw new ProxyProtocolError('PROXY v2 header too long');
  if (data.length < 16 + length) return undefined;
  const rest = data.subarray(16 + length);
  const isLocal = (versionCommand & 0x0f) === 0;
  const family = data[13]! >> 4;
  if (isLocal || family === 0) return { remoteAddress: undefined, rest };
  const body = data.subarray(16, 16 + length);
  if (family === 1 && length >= 12) {
    return { remoteAddress: `${[...body.subarray(0, 4)].join('.')}:${body.readUInt16BE(8)}`, rest };
  }
  if (family === 2 && length >= 36) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16));
    return { remoteAddress: `${groups.join(':')}:${body.readUInt16BE(32)}`, rest };
  }
  throw new ProxyProtocolError('unsupported PROXY v2 address family');
}

/** Reads the header off a fresh socket, then puts the remaining bytes back for the MQTT parser. */
export function readProxyHeader(socket: Socket, timeoutMs = 5000): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new ProxyProtocolError('no PROXY header in time')), timeoutMs);
    const finish = (error: Error | undefined, header?: ProxyHeader): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve(header!);
    };
    const onClose = (): void => finish(new ProxyProtocolError('closed before the PROXY header'));
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      try {
        const header = parseProxyHeader(buffered);
        if (!header) return;
        socket.pause();
        if (header.rest.length > 0) socket.unshift(header.rest);
        finish(undefined, { ...header, rest: Buffer.alloc(0) });
      } catch (error) {
        finish(error as Error);
      }
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}
