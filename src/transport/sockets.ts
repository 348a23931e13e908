/**
 * The socket setup every listener type shares (tcp, tls, ws, and the PROXY protocol in front of
 * tcp and tls): start and stop of the server, the peer address, the sockets accepted but not yet
 * handed to the broker, and the PROXY header read before a socket goes on.
 */
import type net from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { readProxyHeader } from './proxy-protocol.js';

export function listenOn(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

export function closeServer(server: Server | undefined): Promise<void> {
  if (!server?.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** "mqtts://host:port" with the bound port once there is one. */
export function describeListener(scheme: string, host: string, configuredPort: number, server: Server | undefined, path = ''): string {
  const address = server?.address();
  const port = address && typeof address === 'object' ? address.port : configuredPort;
  return `${scheme}://${host}:${port}${path}`;
}

/** After start, a server 'error' is an accept failure (EMFILE…): the server keeps listening, nothing to crash for. */
export function ignoreAcceptErrors(server: net.Server): void {
  server.on('error', () => undefined);
}

/** "address:port" of a socket's peer, the shape `ConnectionInfo.remoteAddress` takes. */
export function peerAddress(socket: net.Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
}

/**
 * Behind a balancer speaking the PROXY protocol: reads the header, then calls `proceed` with the
 * client address it carries (undefined for LOCAL health checks and the like: keep the peer's).
 * A socket without a valid header in time, or failing before it, is destroyed.
 */
export function afterProxyHeader(socket: net.Socket, proceed: (clientAddress: string | undefined) => void): void {
  socket.on('error', () => socket.destroy());
  readProxyHeader(socket).then(
    (header) => proceed(header.remoteAddress),
    () => socket.destroy(),
  );
}

/**
 * Accepted sockets not yet handed to the broker: mid-handshake, awaiting a PROXY header or an HTTP
 * upgrade. `server.close()` waits for every socket, so a listener's close() destroys these (handed
 * over ones are the broker's). Keyed by the peer's address and port, which a TLSSocket shares with
 * the TCP socket under it, and which no two live connections share.
 */
export class PendingSockets {
  private readonly entries = new Map<string, { socket: net.Socket; proxiedAddress?: string }>();

  add(socket: net.Socket): void {
    const key = peerKey(socket);
    if (key === undefined) return; // already gone
    const entry = { socket };
    this.entries.set(key, entry);
    socket.once('close', () => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
  }

  /** Remembers the client address a PROXY header gave, until the connection is handed over. */
  setProxiedAddress(socket: net.Socket, address: string): void {
    const entry = this.entries.get(peerKey(socket) ?? '');
    if (entry) entry.proxiedAddress = address;
  }

  /** Forgets the socket (or the TLS socket over it); returns its PROXY header address, if any. */
  handOver(socket: net.Socket): string | undefined {
    const key = peerKey(socket);
    if (key === undefined) return undefined;
    const entry = this.entries.get(key);
    this.entries.delete(key);
    return entry?.proxiedAddress;
  }

  destroyAll(): void {
    for (const { socket } of this.entries.values()) socket.destroy();
    this.entries.clear();
  }
}

function peerKey(socket: net.Socket): string | undefined {
  return socket.remotePort === undefined ? undefined : `${socket.remoteAddress ?? ''}|${socket.remotePort}`;
}
