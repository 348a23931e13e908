/**
 * MQTT over WebSocket (types `ws` and `wss`) with the `ws` package: binary frames on one path,
 * subprotocol `mqtt` [5.0 MQTT-6.0.0-4]. Packets may span or share frames [5.0 MQTT-6.0.0-2]: the stream
 * handed to the broker is a byte stream, so the parser does not care.
 */
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { WebSocket, WebSocketServer } from 'ws';
import type { ConnectionInfo, Listener } from '../broker/index.js';
import { closeServer, describeListener, ignoreAcceptErrors, listenOn, peerAddress, PendingSockets } from './sockets.js';
import { certificateIdentity, tlsServerOptions, type TlsMaterial } from './tls.js';

export interface WebSocketOptions {
  host: string;
  port: number;
  /** The one path that upgrades (default `/mqtt`); others get 404. */
  path?: string;
  /** wss: the TLS material; absent: plain ws. */
  tls?: TlsMaterial;
  /**
   * Behind a reverse proxy: the client address is the last X-Forwarded-For entry (the one the
   * proxy added; earlier entries are whatever the client sent). Off: the header is ignored.
   */
  trustProxy?: boolean;
}

/** 'mqtt' is the registered name [5.0 MQTT-6.0.0-4]; 'mqttv3.1' is what MQTT 3.1 era clients offer. */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1'];
/** The largest MQTT packet plus its fixed header: one packet per frame is what clients send. */
const MAX_FRAME_BYTES = 268_435_455 + 5;
const HEADERS_TIMEOUT_MS = 10_000;

export class WebSocketListener implements Listener {
  private server: http.Server | https.Server | undefined;
  private wss: WebSocketServer | undefined;
  private readonly pending = new PendingSockets();

  constructor(private readonly options: WebSocketOptions) {}

  private get path(): string {
    return this.options.path ?? '/mqtt';
  }

  get description(): string {
    return describeListener(this.options.tls ? 'wss' : 'ws', this.options.host, this.options.port, this.server, this.path);
  }

  async start(accept: (stream: Duplex, info: ConnectionInfo) => void): Promise<AddressInfo> {
    // Loaded here: a broker without WebSocket listeners does not pay its ~5 MiB.
    const { createWebSocketStream, WebSocketServer } = await import('ws');
    const server = this.options.tls ? https.createServer({ ...tlsServerOptions(this.options.tls), handshakeTimeout: HEADERS_TIMEOUT_MS }) : http.createServer();
    server.headersTimeout = HEADERS_TIMEOUT_MS;
    server.on('connection', (socket: net.Socket) => this.pending.add(socket));
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
      res.end('MQTT over WebSocket: upgrade required\n');
    });
    // A failed TLS handshake, or garbage instead of HTTP: drop the socket, no answer owed.
    server.on('tlsClientError', (_error: Error, socket: Duplex) => socket.destroy());
    server.on('clientError', (_error: Error, socket: Duplex) => socket.destroy());
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_FRAME_BYTES,
      handleProtocols: (protocols) => SUBPROTOCOLS.find((p) => protocols.has(p)) ?? false,
    });
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      // Not `new URL()`: a target such as "//" makes it throw, here an uncaught exception.
      const pathname = (req.url ?? '/').split('?', 1)[0];
      if (pathname !== this.path) {
        socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        this.pending.handOver(req.socket);
        // The stream below reports errors to the broker; this only keeps a second one from throwing.
        ws.on('error', () => undefined);
        const stream = createWebSocketStream(ws);
        stream.on('error', () => stream.destroy());
        acceptBinaryFramesOnly(ws);
        const info: ConnectionInfo = { remoteAddress: this.remoteAddressOf(req) };
        const identity = this.options.tls ? certificateIdentity(req.socket as TLSSocket) : undefined;
        if (identity !== undefined) info.certificateIdentity = identity;
        accept(stream, info);
      });
    });
    this.server = server;
    this.wss = wss;
    const address = await listenOn(server, this.options.port, this.options.host);
    ignoreAcceptErrors(server);
    return address;
  }

  private remoteAddressOf(req: http.IncomingMessage): string {
    const direct = peerAddress(req.socket);
    if (!this.options.trustProxy) return direct;
    return forwardedClient(req.headers['x-forwarded-for']) ?? direct;
  }

  async close(): Promise<void> {
    this.wss?.close();
    const closed = closeServer(this.server);
    this.pending.destroyAll();
    await closed;
  }
}

/**
 * [5.0 MQTT-6.0.0-1] MQTT travels in binary frames: a text frame closes the connection (1003), and
 * its bytes never reach the MQTT parser. The stream's own 'message' listener only ever sees
 * binary frames of an open connection.
 */
function acceptBinaryFramesOnly(ws: WebSocket): void {
  const forwarders = ws.listeners('message') as Array<(data: WebSocket.RawData, isBinary: boolean) => void>;
  ws.removeAllListeners('message');
  ws.on('message', (data, isBinary) => {
    if (ws.readyState !== ws.OPEN) return;
    if (!isBinary) {
      ws.close(1003, 'MQTT needs binary frames');
      return;
    }
    for (const forward of forwarders) forward.call(ws, data, isBinary);
  });
}

/**
 * The client address from X-Forwarded-For: the last entry, as "address:port" (port 0 when, as
 * usual, the entry has none). Undefined when absent or not an IP address.
 */
export function forwardedClient(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  const last = value?.split(',').pop()?.trim();
  if (!last) return undefined;
  if (net.isIP(last)) return `${last}:0`;
  const withPort = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(last) ?? /^([\d.]+):(\d{1,5})$/.exec(last);
  if (withPort && net.isIP(withPort[1]!) && Number(withPort[2]) <= 65535) return `${withPort[1]}:${Number(withPort[2])}`;
  return undefined;
}
