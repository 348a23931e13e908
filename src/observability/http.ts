/**
 * The HTTP listener for operations: /metrics, /health, /ready and the admin JSON API. Routes are
 * handed in, so this file knows HTTP and nothing of the broker. A bearer token, when set, guards
 * everything but /health and routes marked public (the dashboard's static shell, which holds no data).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';

export interface HttpResponse {
  status: number;
  /** A string is sent as text, a Buffer as bytes, anything else as JSON. */
  body: string | Buffer | object;
  contentType?: string;
  headers?: Record<string, string>;
  /** A long-lived response (Server-Sent Events): called once the headers are out; body is ignored. */
  stream?: (sink: HttpStreamSink) => void;
}

/** What a streaming route writes to; onClose fires once when the client goes away or the server stops. */
export interface HttpStreamSink {
  write(chunk: string): void;
  onClose(listener: () => void): void;
}

export interface HttpRoute {
  method: 'GET' | 'DELETE' | 'POST' | 'PATCH' | 'PUT';
  /** Matched against the path; named groups become params. */
  path: RegExp;
  /** `body`: the parsed JSON request body of POST, PATCH and PUT (undefined when empty). */
  handle(params: Record<string, string>, query: URLSearchParams, body: unknown, headers: http.IncomingHttpHeaders): Promise<HttpResponse> | HttpResponse;
  /** Served without the token: only for content that holds no broker data. */
  isPublic?: boolean;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  token: string | null;
  routes: HttpRoute[];
  onError(error: unknown): void;
}

/** Paths a liveness probe may read without the token. */
const OPEN_PATHS = new Set(['/health']);

export class OpsHttpServer {
  private server: http.Server | undefined;

  constructor(private readonly options: HttpServerOptions) {}

  async start(): Promise<AddressInfo> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server?.listening) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private isAuthorized(req: http.IncomingMessage): boolean {
    const token = this.options.token;
    if (token === null) return true;
    const header = req.headers.authorization ?? '';
    // Digests of equal length: the comparison takes the same time whatever the given token's length.
    const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
    return timingSafeEqual(digest(header.startsWith('Bearer ') ? header.slice(7) : ''), digest(token));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let response: HttpResponse;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const found = this.findRoute(req.method ?? 'GET', url.pathname);
      const isOpen = OPEN_PATHS.has(url.pathname) || (typeof found === 'object' && found.route.isPublic === true);
      if (!isOpen && !this.isAuthorized(req)) {
        response = { status: 401, body: { error: 'missing or wrong bearer token' } };
      } else {
        response = await this.route(req.method ?? 'GET', url, req);
      }
    } catch (error) {
      this.options.onError(error);
      response = { status: 500, body: { error: 'internal error' } };
    }
    if (response.stream) {
      this.startStream(req, res, response);
      return;
    }
    const isText = typeof response.body === 'string';
    const isBytes = Buffer.isBuffer(response.body);
    res.writeHead(response.status, {
      'content-type': response.contentType ?? (isText ? 'text/plain; charset=utf-8' : isBytes ? 'application/octet-stream' : 'application/json'),
      ...response.headers,
    });
    res.end(isText || isBytes ? response.body : JSON.stringify(response.body));
  }

  private startStream(req: http.IncomingMessage, res: http.ServerResponse, response: HttpResponse): void {
    res.writeHead(response.status, { 'content-type': response.contentType ?? 'text/event-stream', 'cache-control': 'no-store', ...response.headers });
    res.flushHeaders();
    const listeners: Array<() => void> = [];
    let isClosed = false;
    const close = (): void => {
      if (isClosed) return;
      isClosed = true;
      for (const listener of listeners) listener();
    };
    req.socket.once('close', close);
    response.stream!({
      write: (chunk) => {
        if (!isClosed) res.write(chunk);
      },
      onClose: (listener) => listeners.push(listener),
    });
  }

  private findRoute(method: string, pathname: string): { route: HttpRoute; match: RegExpExecArray } | 'wrong-method' | undefined {
    let isPathKnown = false;
    for (const route of this.options.routes) {
      const match = route.path.exec(pathname);
      if (!match) continue;
      isPathKnown = true;
      if (route.method === method) return { route, match };
    }
    return isPathKnown ? 'wrong-method' : undefined;
  }

  private async route(method: string, url: URL, req: http.IncomingMessage): Promise<HttpResponse> {
    const found = this.findRoute(method, url.pathname);
    if (found === undefined) return { status: 404, body: { error: 'not found' } };
    if (found === 'wrong-method') return { status: 405, body: { error: 'method not allowed' } };
    const params: Record<string, string> = {};
    for (const [key, value] of Object.entries(found.match.groups ?? {})) params[key] = decodeURIComponent(value);
    if (method !== 'POST' && method !== 'PATCH' && method !== 'PUT') return found.route.handle(params, url.searchParams, undefined, req.headers);
    const body = await readJsonBody(req);
    if (body === INVALID_BODY) return { status: 400, body: { error: 'the request body must be JSON of at most 1 MiB' } };
    return found.route.handle(params, url.searchParams, body, req.headers);
  }
}

const INVALID_BODY = Symbol('invalid body');
const MAX_BODY_BYTES = 1024 * 1024;

async function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return INVALID_BODY;
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return INVALID_BODY;
  }
}
