/**
 * HAProxy PROXY protocol v1 (text) and v2 (binary) headers, read at the start of a connection from
 * a load balancer so logs and ACLs see the real client address. Bounded in size and time; a
 * connection without a valid header is closed.
 * Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 */
import net, { type Socket } from 'node:net';

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
const V1_MAX = 107; // the spec's longest v1 line, CRLF included
const V2_MAX = 16 + 1024; // addresses and a little TLV room (cloud balancers add < 100 bytes); longer is refused
/** How long a connection may take to send its header before it is closed. */
export const PROXY_HEADER_TIMEOUT_MS = 5000;

const V2_COMMAND_LOCAL = 0x0;
const V2_COMMAND_PROXY = 0x1;
const V2_FAMILY_INET = 0x1;
const V2_FAMILY_INET6 = 0x2;

export interface ProxyHeader {
  /**
   * "address:port" of the original client, or undefined when the header carries none (LOCAL
   * health checks, UNKNOWN, AF_UNIX): the caller then keeps the direct peer address.
   */
  remoteAddress: string | undefined;
  /** Bytes after the header: the start of the MQTT (or TLS) stream (empty from `readProxyHeader`, which puts them back). */
  rest: Buffer;
}

export class ProxyProtocolError extends Error {}

/** Parses a complete header from `data`, or returns undefined when more bytes are needed. */
export function parseProxyHeader(data: Buffer): ProxyHeader | undefined {
  if (data.length >= V2_SIGNATURE.length && data.subarray(0, V2_SIGNATURE.length).equals(V2_SIGNATURE)) return parseV2(data);
  if (data.length < V2_SIGNATURE.length && V2_SIGNATURE.subarray(0, data.length).equals(data)) return undefined;
  const prefixLength = Math.min(V1_PREFIX.length, data.length);
  if (!data.subarray(0, prefixLength).equals(V1_PREFIX.subarray(0, prefixLength))) {
    throw new ProxyProtocolError('no PROXY protocol header');
  }
  return parseV1(data);
}

function parseV1(data: Buffer): ProxyHeader | undefined {
  const end = data.indexOf('\r\n');
  if (end < 0 ? data.length >= V1_MAX : end + 2 > V1_MAX) throw new ProxyProtocolError('PROXY v1 line too long');
  if (end < 0) return undefined;
  const parts = data.subarray(0, end).toString('latin1').split(' ');
  const rest = data.subarray(end + 2);
  // "PROXY UNKNOWN" may be followed by anything; the receiver ignores it.
  if (parts[1] === 'UNKNOWN') return { remoteAddress: undefined, rest };
  const [, protocol, source, , sourcePort, destinationPort] = parts;
  if ((protocol !== 'TCP4' && protocol !== 'TCP6') || parts.length !== 6) throw new ProxyProtocolError('malformed PROXY v1 line');
  const isAddressValid = protocol === 'TCP4' ? net.isIPv4(source!) && net.isIPv4(parts[3]!) : net.isIPv6(source!) && net.isIPv6(parts[3]!);
  if (!isAddressValid) throw new ProxyProtocolError(`bad ${protocol} address in PROXY v1 line`);
  if (!isPort(sourcePort!) || !isPort(destinationPort!)) throw new ProxyProtocolError('bad port in PROXY v1 line');
  return { remoteAddress: `${source}:${Number(sourcePort)}`, rest };
}

function isPort(text: string): boolean {
  return /^\d{1,5}$/.test(text) && Number(text) <= 65535;
}

function parseV2(data: Buffer): ProxyHeader | undefined {
  if (data.length < 16) return undefined;
  const versionCommand = data[12]!;
  if (versionCommand >> 4 !== 2) throw new ProxyProtocolError('unsupported PROXY v2 version');
  const command = versionCommand & 0x0f;
  if (command !== V2_COMMAND_LOCAL && command !== V2_COMMAND_PROXY) throw new ProxyProtocolError('unknown PROXY v2 command');
  const length = data.readUInt16BE(14);
  if (16 + length > V2_MAX) throw new ProxyProtocolError('PROXY v2 header too long');
  if (data.length < 16 + length) return undefined;
  const rest = data.subarray(16 + length);
  const family = data[13]! >> 4;
  const body = data.subarray(16, 16 + length);
  // LOCAL: the balancer's own health check; the addresses (if any) mean nothing.
  if (command === V2_COMMAND_LOCAL) return { remoteAddress: undefined, rest };
  if (family === V2_FAMILY_INET) {
    if (length < 12) throw new ProxyProtocolError('PROXY v2 IPv4 addresses truncated');
    return { remoteAddress: `${[...body.subarray(0, 4)].join('.')}:${body.readUInt16BE(8)}`, rest };
  }
  if (family === V2_FAMILY_INET6) {
    if (length < 36) throw new ProxyProtocolError('PROXY v2 IPv6 addresses truncated');
    return { remoteAddress: `${formatIPv6(body.subarray(0, 16))}:${body.readUInt16BE(32)}`, rest };
  }
  // AF_UNSPEC or AF_UNIX: no IP address to report; the spec says to accept and use the real one.
  return { remoteAddress: undefined, rest };
}

/** The compressed text form Node itself uses for socket addresses ("2001:db8::1", "::ffff:1.2.3.4"). */
function formatIPv6(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${[...bytes.subarray(12)].join('.')}`;
  // Longest run of two or more zero groups becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * Reads the header off a fresh socket, then puts the remaining bytes back (socket paused) for
 * whoever reads next: the MQTT parser, or a TLS handshake. Rejects on a bad header, on a header
 * that does not arrive within `timeoutMs`, and on a socket closed before it; the caller closes.
 */
export function readProxyHeader(socket: Socket, timeoutMs = PROXY_HEADER_TIMEOUT_MS): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new ProxyProtocolError('no PROXY header in time')), timeoutMs);
    const finish = (error: Error | undefined, header?: ProxyHeader): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (error) {
        socket.pause(); // nothing reads the bytes that still arrive; the caller destroys
        reject(error);
      } else {
        resolve(header!);
      }
    };
    const onClose = (): void => finish(new ProxyProtocolError('closed before the PROXY header'));
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let header: ProxyHeader | undefined;
      try {
        header = parseProxyHeader(buffered);
      } catch (error) {
        finish(error as Error);
        return;
      }
      if (!header) return;
      socket.pause();
      if (header.rest.length > 0) socket.unshift(header.rest);
      finish(undefined, { remoteAddress: header.remoteAddress, rest: Buffer.alloc(0) });
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}
