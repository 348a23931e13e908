/** Helpers for the auth tests: CONNACK codes, a log capture, and small local HTTP services. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createLogger, type Logger } from '../../src/observability/index.js';

/** Connects once and returns the CONNACK reason code (0 on success) and the client if connected. */
export function tryConnect(url: string, options: IClientOptions = {}): Promise<{ code: number; client?: MqttClient }> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...options });
    client.once('connect', () => resolve({ code: 0, client }));
    client.once('error', (error: Error & { code?: number }) => {
      client.end(true);
      resolve({ code: typeof error.code === 'number' ? error.code : -1 });
    });
    client.once('close', () => resolve({ code: -1 }));
  });
}

/** A logger whose JSON lines are kept, so tests can look for secrets in them. */
export function captureLogger(level = 'info'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}

export interface LocalHttpServer {
  url: string;
  requests: number;
  close(): Promise<void>;
}

/** An HTTP server on a free loopback port; `handle` answers each request. */
export async function startHttpServer(handle: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void): Promise<LocalHttpServer> {
  const state = { requests: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      handle(req, Buffer.concat(chunks).toString('utf8'), res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(res: http.ServerResponse, status: number, body?: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body === undefined ? '' : JSON.stringify(body));
}
