/**
 * Serves the built dashboard (dist/dashboard/: HTML, JS, CSS, no data) at /dashboard/. These routes
 * are public: the shell holds nothing of the broker's, and every data call it makes carries the
 * token. Only files found in the build directory are served (no path from the URL reaches the
 * file system), each with a strict Content-Security-Policy and, when the browser takes it, the
 * gzip copy the build wrote beside it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpResponse, HttpRoute } from '../observability/index.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

interface Asset {
  body: Buffer;
  gzip: Buffer | undefined;
  contentType: string;
}

/**
 * Where the build put the UI, dist/dashboard/, seen from wherever this code runs: the bundled CLI
 * (dist/midge.mjs), the compiled modules (dist/broker/), or the sources (src/broker/, tests, tsx).
 */
export function defaultDashboardDir(): string | undefined {
  const candidates = ['./dashboard/', '../dashboard/', '../../dist/dashboard/'].map((relative) => fileURLToPath(new URL(relative, import.meta.url)));
  return candidates.find((dir) => existsSync(path.join(dir, 'index.html')) && existsSync(path.join(dir, 'app.js')));
}

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = CONTENT_TYPES[path.extname(name)];
    if (type === undefined) continue;
    const gzipFile = path.join(dir, `${name}.gz`);
    assets.set(name, { body: readFileSync(path.join(dir, name)), gzip: existsSync(gzipFile) ? readFileSync(gzipFile) : undefined, contentType: type });
  }
  return assets;
}

/** The CSP: our own files only; the MQTT console may open WebSockets to the broker's ws/wss ports. */
function contentSecurityPolicy(webSocketPorts: ReadonlyArray<{ scheme: 'ws' | 'wss'; port: number }>): string {
  const sockets = webSocketPorts.map(({ scheme, port }) => `${scheme}://*:${port}`).join(' ');
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self'${sockets ? ` ${sockets}` : ''}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function dashboardAssetRoutes(
  webSocketPorts: () => ReadonlyArray<{ scheme: 'ws' | 'wss'; port: number }>,
  dir: string | undefined = defaultDashboardDir(),
): HttpRoute[] {
  let assets: Map<string, Asset> | undefined;
  const serve = (name: string, acceptEncoding: string): HttpResponse => {
    if (dir === undefined) {
      return { status: 404, body: 'The dashboard is not built: run `npm run build` (it writes dist/dashboard/).\n' };
    }
    assets ??= loadAssets(dir);
    const asset = assets.get(name === '' ? 'index.html' : name);
    if (!asset) return { status: 404, body: 'not found\n' };
    const isGzip = asset.gzip !== undefined && /\bgzip\b/.test(acceptEncoding);
    return {
      status: 200,
      body: isGzip ? asset.gzip! : asset.body,
      contentType: asset.contentType,
      headers: {
        'content-security-policy': contentSecurityPolicy(webSocketPorts()),
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-cache',
        vary: 'accept-encoding',
        ...(isGzip ? { 'content-encoding': 'gzip' } : {}),
      },
    };
  };
  return [
    {
      method: 'GET',
      path: /^\/dashboard$/,
      isPublic: true,
      handle: () => ({ status: 308, body: '', headers: { location: '/dashboard/' } }),
    },
    {
      method: 'GET',
      path: /^\/dashboard\/(?<file>[A-Za-z0-9._-]*)$/,
      isPublic: true,
      handle: ({ file }, _query, _body, headers) => serve(file ?? '', String(headers['accept-encoding'] ?? '')),
    },
  ];
}
