/**
 * MQTT over WebSocket (types `ws` and `wss`) with the `ws` package: binary frames on one path,
 * subprotocol `mqtt` [MQTT-6.0.0-4]. Packets may span or share frames [MQTT-6.0.0-2]: the stream
 * handed to the broker is a byte stream, so the parser does not care.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { ConnectionInfo, Listener } from '../broker/index.js';
import { closeServer, describeListener, listenOn } from './listen.js';
import { certificateIdentity, tlsServerOptions, type TlsOptions } from './tls.js';

export interface WebSocketOptions {
  host: string;
  port: number;
  path?: string;
  /** wss: the TLS material; absent: plain ws. */
  tls?: Omit<TlsOptions, 'host' | 'port'>;
}

const SUBPROTOCOLS = ['mqtt', 'mqttv3.1'];

export class WebSocketListener implements Listener {
  private server: http.Server | https.Server | undefined;
  private wss: WebSocketServer | undefined;

  constructor(private readonly options: WebSocketOptions) {}

  get description(): string {
    return describeListener(this.options.tls ? 'wss' : 'ws', this.options.host, this.options.port, this.server, this.options.path ?? '/mqtt');
  }

  start(accept: (stream: Duplex, info: ConnectionInfo) => void): Promise<AddressInfo> {
    const path = this.options.path ?? '/mqtt';
    const server = this.options.tls ? https.createServer(tlsServerOptions(this.options.tls)) : http.createServer();
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' });
      res.end('MQTT over WebSocket: upgrade required\n');
    });
    server.on('tlsClientError', (_error: Error, socket: Duplex) => socket.destroy());
    // Garbage instead of HTTP: drop the socket, no answer owed.
    server.on('clientError', (_error: Error, socket: Duplex) => socket.destroy());
    server.headersTimeout = 10_000;
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: 268_435_456,
      handleProtocols: (protocols) => SUBPROTOCOLS.find((p) => protocols.has(p)) ?? false,
    });
    server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== path) {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => stream.destroy());
        // [MQTT-6.0.0-1] MQTT travels in binary frames: a text frame ends the connection.
        ws.on('message', (_data, isBinary) => {
          if (!isBinary) ws.close(1003, 'MQTT needs binary frames');
        });
        const raw = req.socket;
        const info: ConnectionInfo = { remoteAddress: `${raw.remoteAddress ?? '?'}:${raw.remotePort ?? '?'}` };
        const identity = this.options.tls ? certificateIdentity(raw as TLSSocket) : undefined;
        if (identity !== undefined) info.certificateIdentity = identity;
        accept(stream, info);
      });
    });
    this.server = server;
    this.wss = wss;
    return listenOn(server, this.options.port, this.options.host);
  }

  async close(): Promise<void> {
    this.wss?.close();
    await closeServer(this.server);
  }
}
