/**
 * The HTTP auth service entry through real sockets: a local service allows (with ACL rules and
 * attributes), denies, answers too slowly (timeout) or is down (deny 0x88 by default, or ignore
 * so the next entry decides); 1,000 reconnects are answered from the cache.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPasswordV7 } from '../../src/auth/index.js';
import { closeAllClients, connectClient } from '../helpers/clients.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/temp.js';
import { sendJson, startHttpServer, tryConnect, type LocalHttpServer } from './helpers.js';

interface AuthRequest {
  clientId: string;
  username: string | null;
  password: string | null;
  certificateCommonName: string | null;
  address: string;
}

describe('HTTP auth service', () => {
  let service: LocalHttpServer;
  let b: TestBroker;
  const seen: AuthRequest[] = [];

  beforeAll(async () => {
    service = await startHttpServer((req, body, res) => {
      const request = JSON.parse(body) as AuthRequest;
      seen.push(request);
      if (req.headers['x-service-key'] !== 'k-123') return sendJson(res, 401);
      if (request.username === 'good' && request.password === 'pw-good') {
        return sendJson(res, 200, {
          acl: [{ permission: 'allow', action: 'publish', topic: 'fleet/%u/#' }],
          attributes: { tenant: 't1' },
        });
      }
      if (request.username === 'slow') {
        setTimeout(() => sendJson(res, 200), 30_000).unref();
        return;
      }
      if (request.username === 'broken') return sendJson(res, 503);
      return sendJson(res, 403, { reason: 'no' });
    });
    b = await startBroker({
      http: { enabled: true, port: 0 },
      auth: {
        // A generous timeout: the machine is shared, a loaded service must not look down.
        chain: [{ type: 'http', url: `${service.url}/mqtt/auth`, headers: { 'x-service-key': 'k-123' }, timeoutMs: 2000, cacheTtlMs: 60_000 }],
        authorization: { noMatch: 'deny' },
      },
    });
  });
  afterAll(async () => {
    await closeAllClients();
    await b.cleanup();
    await service.close();
  });

  it('2xx allows, with the ACL from the answer enforced; the request carries client id, user name, password, CN and address', async () => {
    const client = await connectClient(b.url, { clientId: 'car-1', username: 'good', password: 'pw-good', protocolVersion: 5 });
    expect(seen.at(-1)).toEqual({ clientId: 'car-1', username: 'good', password: 'pw-good', certificateCommonName: null, address: '127.0.0.1', listener: 0 });
    await client.publishAsync('fleet/good/position', '1', { qos: 1 });
    await expect(client.publishAsync('fleet/other/position', '1', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
  });

  it('4xx denies: CONNACK 0x86 (5.0) / 4 (3.1.1) [5.0 MQTT-3.2.2-8]', async () => {
    expect((await tryConnect(b.url, { clientId: 'car-2', username: 'bad', password: 'x', protocolVersion: 5 })).code).toBe(0x86);
    expect((await tryConnect(b.url, { clientId: 'car-2', username: 'bad', password: 'y', protocolVersion: 4 })).code).toBe(4);
  });

  it('a service slower than timeoutMs counts as down: CONNACK 0x88 server unavailable', async () => {
    expect((await tryConnect(b.url, { clientId: 'car-3', username: 'slow', password: 'x', protocolVersion: 5 })).code).toBe(0x88);
  });

  it('5xx counts as down: 0x88, and is not cached', async () => {
    const before = service.requests;
    expect((await tryConnect(b.url, { clientId: 'car-4', username: 'broken', password: 'x', protocolVersion: 5 })).code).toBe(0x88);
    expect((await tryConnect(b.url, { clientId: 'car-4', username: 'broken', password: 'x', protocolVersion: 5 })).code).toBe(0x88);
    expect(service.requests - before).toBe(2);
  });

  it('1,000 reconnects of 20 clients: the service is asked once per client, the rest come from the cache', async () => {
    const before = service.requests;
    const scrape = async (): Promise<{ hit: number; miss: number }> => {
      const text = await (await fetch(`http://127.0.0.1:${b.broker.httpBoundAddress!.port}/metrics`)).text();
      const value = (result: string): number => Number(new RegExp(`midge_auth_http_cache_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? NaN);
      return { hit: value('hit'), miss: value('miss') };
    };
    const start = await scrape();
    for (let batch = 0; batch < 50; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const { code, client } = await tryConnect(b.url, { clientId: `reconnect-${i}`, username: 'good', password: 'pw-good', protocolVersion: 5, clean: true });
          expect(code).toBe(0);
          await client!.endAsync();
        }),
      );
    }
    const end = await scrape();
    const hits = end.hit - start.hit;
    const misses = end.miss - start.miss;
    expect(hits + misses).toBe(1000);
    // One request per distinct client id (20 ids, the cache key holds it), at most: 98 % hits or better.
    expect(service.requests - before).toBeLessThanOrEqual(20);
    expect(hits / 1000).toBeGreaterThanOrEqual(0.98);
  });
});

describe('HTTP auth service down', () => {
  let dir: string;
  let port: number;
  beforeAll(async () => {
    dir = await makeTempDir('midge-http-down-');
    port = await freePort(); // nothing listens there
    writeFileSync(path.join(dir, 'passwd'), `local:${hashPasswordV7('pw-local')}\n`);
  });
  afterAll(async () => {
    await closeAllClients();
  });

  it('deny by default: CONNACK 0x88', async () => {
    const b = await startBroker({ auth: { chain: [{ type: 'http', url: `http://127.0.0.1:${port}/auth` }] } });
    try {
      expect((await tryConnect(b.url, { clientId: 'x', username: 'u', password: 'p', protocolVersion: 5 })).code).toBe(0x88);
      expect((await tryConnect(b.url, { clientId: 'x', username: 'u', password: 'p', protocolVersion: 4 })).code).toBe(3);
    } finally {
      await b.cleanup();
    }
  });

  it('whenDown: ignore hands the client to the next entry (a password file here)', async () => {
    const b = await startBroker({
      auth: { chain: [{ type: 'http', url: `http://127.0.0.1:${port}/auth`, whenDown: 'ignore' }, { type: 'passwordFile', path: path.join(dir, 'passwd') }] },
    });
    try {
      const { code, client } = await tryConnect(b.url, { clientId: 'x', username: 'local', password: 'pw-local', protocolVersion: 5 });
      expect(code).toBe(0);
      await client!.endAsync();
      expect((await tryConnect(b.url, { clientId: 'x', username: 'local', password: 'wrong', protocolVersion: 5 })).code).toBe(0x86);
    } finally {
      await b.cleanup();
    }
  });
});
