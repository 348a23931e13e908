/**
 * Nothing secret in any log line, at debug level, across every auth path at once: the JWT signing
 * secret and tokens, user-store passwords set and changed through the admin API, the admin token,
 * the HTTP service's credentials and header key (its authentication and authorization entries,
 * answering and down), and message payloads. Every captured line is scanned for every secret.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { closeAllClients, connectClient, MessageCollector } from '../helpers/clients.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { captureLogger, sendJson, startHttpServer, tryConnect, type LocalHttpServer } from './helpers.js';

const JWT_SECRET = 'log-scan-signing-secret-0123456789';
const ADMIN_TOKEN = 'log-scan-admin-token-abcdef';
const SERVICE_KEY = 'log-scan-service-key-778899';
const USER_PASSWORD = 'log-scan-user-password-1';
const USER_PASSWORD_2 = 'log-scan-user-password-2';
const HTTP_PASSWORD = 'log-scan-http-password';
const WRONG_PASSWORD = 'log-scan-wrong-password';
const PAYLOAD = 'log-scan-payload-do-not-log';

describe('no secret in any log line', () => {
  let service: LocalHttpServer;
  let b: TestBroker;
  const { logger, lines } = captureLogger('debug');
  const secrets = [JWT_SECRET, ADMIN_TOKEN, SERVICE_KEY, USER_PASSWORD, USER_PASSWORD_2, HTTP_PASSWORD, WRONG_PASSWORD, PAYLOAD];

  beforeAll(async () => {
    service = await startHttpServer((req, body, res) => {
      if (req.headers['x-service-key'] !== SERVICE_KEY) return sendJson(res, 401);
      const request = JSON.parse(body) as { username?: string; password?: string; action?: string };
      if (request.action !== undefined) return sendJson(res, 200); // authorization: allow
      return sendJson(res, request.username === 'svc' && request.password === HTTP_PASSWORD ? 200 : 403);
    });
    const headers = { 'x-service-key': SERVICE_KEY };
    b = await startBroker(
      {
        http: { enabled: true, port: 0, token: ADMIN_TOKEN },
        auth: {
          chain: [{ type: 'jwt', secret: JWT_SECRET }, { type: 'users' }, { type: 'http', url: `${service.url}/auth`, headers, timeoutMs: 2000 }],
          authorization: { chain: [{ type: 'users' }, { type: 'claims' }, { type: 'http', url: `${service.url}/acl`, headers, timeoutMs: 2000 }], noMatch: 'deny' },
          users: { iterations: 50 },
        },
      },
      { logger },
    );
  });
  afterAll(async () => {
    await closeAllClients();
    await b.cleanup();
    await service.close();
  });

  const api = async (method: string, route: string, body?: unknown): Promise<number> => {
    const response = await fetch(`http://127.0.0.1:${b.broker.httpBoundAddress!.port}${route}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    await response.text();
    return response.status;
  };

  it('JWT, user store, admin API, HTTP service up and down, payloads: every line scanned', { timeout: 30_000 }, async () => {
    const key = new TextEncoder().encode(JWT_SECRET);
    const token = await new SignJWT({ sub: 'dev-1' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(key);
    const badToken = await new SignJWT({ sub: 'dev-1' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode('another-secret-0123456789abcdef'));
    secrets.push(token, badToken, token.split('.')[2]!, badToken.split('.')[2]!);

    expect(await api('PUT', '/api/v1/roles/all', { acl: [{ permission: 'allow', action: 'all', topic: 'scan/#' }] })).toBe(200);
    expect(await api('POST', '/api/v1/users', { username: 'u1', password: USER_PASSWORD, roles: ['all'] })).toBe(201);
    expect(await api('PATCH', '/api/v1/users/u1', { password: USER_PASSWORD_2 })).toBe(200);
    expect(await api('GET', '/api/v1/users')).toBe(200);

    const jwtClient = await connectClient(b.url, { clientId: 'dev-1', username: 'dev-1', password: token, protocolVersion: 5 });
    expect((await tryConnect(b.url, { clientId: 'dev-1b', username: 'dev-1', password: badToken, protocolVersion: 5 })).code).toBe(0x86);
    const user = await connectClient(b.url, { clientId: 'u1-a', username: 'u1', password: USER_PASSWORD_2, protocolVersion: 5 });
    expect((await tryConnect(b.url, { clientId: 'u1-b', username: 'u1', password: WRONG_PASSWORD, protocolVersion: 5 })).code).toBe(0x86);
    const svc = await connectClient(b.url, { clientId: 'svc-1', username: 'svc', password: HTTP_PASSWORD, protocolVersion: 5 });
    expect((await tryConnect(b.url, { clientId: 'svc-2', username: 'svc', password: WRONG_PASSWORD, protocolVersion: 5 })).code).toBe(0x86);

    const inbox = new MessageCollector(user);
    await user.subscribeAsync('scan/#', { qos: 1 });
    await svc.publishAsync('scan/a', PAYLOAD, { qos: 1 });
    await jwtClient.publishAsync('elsewhere/a', PAYLOAD, { qos: 0 });
    expect((await inbox.waitFor(1, 10_000))[0]!.payload).toBe(PAYLOAD);

    // The service goes away: authentication and authorization misses meet a down service.
    await service.close();
    expect((await tryConnect(b.url, { clientId: 'svc-3', username: 'svc', password: `${HTTP_PASSWORD}-x`, protocolVersion: 5 })).code).toBe(0x88);
    secrets.push(`${HTTP_PASSWORD}-x`);
    await expect(svc.publishAsync('scan/new-topic', PAYLOAD, { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    await api('POST', '/api/v1/users', { username: 'u2', password: USER_PASSWORD, roles: 'not-a-list' });

    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) for (const secret of secrets) expect(line.includes(secret), `a log line holds a secret: ${line}`).toBe(false);
    expect(lines.some((l) => l.includes('$7$'))).toBe(false);
  });
});
