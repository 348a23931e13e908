/**
 * The HTTP listener for operations: /metrics, /health, /ready and the admin JSON API. Routes are
 * handed in, so this file knows HTTP and nothing of the broker. A bearer token, when set, guards
 * everything but /health.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';

export interface HttpResponse {
  status: number;
  body: string | object;
  contentType?: string;
}

export interface HttpRoute {
  method: 'GET' | 'DELETE' | 'POST';
  /** Matched against the path; named groups become params. */
  path: RegExp;
  /** `body`: the request body as text (POST only, at most 1 MiB). */
  handle(params: Record<string, string>, query: URLSearchParams, body: string): Promise<HttpResponse> | HttpResponse;
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
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
    const expected = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let response: HttpResponse;
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (!OPEN_PATHS.has(url.pathname) && !this.isAuthorized(req)) {
        response = { status: 401, body: { error: 'missing or wrong bearer token' } };
      } else {
        const body = req.method === 'POST' ? await readBody(req, 1024 * 1024) : '';
        response = body === undefined ? { status: 413, body: { error: 'body larger than 1 MiB' } } : await this.route(req.method ?? 'GET', url, body);
      }
    } catch (error) {
      this.options.onError(error);
      response = { status: 500, body: { error: 'internal error' } };
    }
    const isText = typeof response.body === 'string';
    res.writeHead(response.status, { 'content-type': response.contentType ?? (isText ? 'text/plain; charset=utf-8' : 'application/json') });
    res.end(isText ? response.body : JSON.stringify(response.body));
  }

  private async route(method: string, url: URL, body: string): Promise<HttpResponse> {
    let isPathKnown = false;
    for (const route of this.options.routes) {
      const match = route.path.exec(url.pathname);
      if (!match) continue;
      isPathKnown = true;
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      for (const [key, value] of Object.entries(match.groups ?? {})) params[key] = decodeURIComponent(value);
      return route.handle(params, url.searchParams, body);
    }
    return isPathKnown ? { status: 405, body: { error: 'method not allowed' } } : { status: 404, body: { error: 'not found' } };
  }
}

/** The request body as UTF-8 text, or undefined when it exceeds `limit` bytes. */
function readBody(req: http.IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
