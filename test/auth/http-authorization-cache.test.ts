/**
 * The HTTP authorization entry's cache and outage rules against a local service, with an injected
 * clock: an answer is synchronous while cached and asked again after its TTL; the cache is
 * bounded; identical misses under way share one request; an outage's outcome is reused for
 * downCacheTtlMs; unlisted checks are not asked; in the chain a synchronous deny does not wait.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthorizationChain, ChainAuthorizer, ClientContexts, HttpAuthorizationEntry, type AuthorizationEntry } from '../../src/auth/index.js';
import { freePort } from '../helpers/ports.js';
import { sendJson, startHttpServer, type LocalHttpServer } from './helpers.js';

describe('HTTP authorization entry: cache and outage', () => {
  let service: LocalHttpServer;
  let now = 1_000_000;
  const client = { clientId: 'c1', username: 'u1' };

  beforeAll(async () => {
    service = await startHttpServer((_req, body, res) => {
      const { topic } = JSON.parse(body) as { topic: string };
      sendJson(res, topic.startsWith('deny/') ? 403 : 200);
    });
  });
  afterAll(async () => {
    await service.close();
  });

  it('a miss is a promise, a hit is synchronous until the TTL passes; the cache is bounded', async () => {
    const entry = new HttpAuthorizationEntry({ url: service.url, cacheTtlMs: 1000, cacheMaxEntries: 3, now: () => now });
    const first = entry.decide(client, undefined, 'publish', 'a/1');
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toBe('allow');
    expect(entry.decide(client, undefined, 'publish', 'a/1')).toBe('allow');
    expect(await entry.decide(client, undefined, 'publish', 'deny/1')).toBe('deny');
    expect(entry.decide(client, undefined, 'publish', 'deny/1')).toBe('deny');
    now += 1001;
    expect(entry.decide(client, undefined, 'publish', 'a/1')).toBeInstanceOf(Promise);
    for (const topic of ['b/1', 'b/2', 'b/3', 'b/4']) await entry.decide(client, undefined, 'subscribe', topic);
    expect(entry.cacheSize).toBe(3);
    expect(entry.stats.cacheHits).toBe(2);
  });

  it('identical misses under way share one request; unlisted checks are not asked', async () => {
    const entry = new HttpAuthorizationEntry({ url: service.url, checks: ['publish'], now: () => now });
    const before = service.requests;
    const answers = await Promise.all(Array.from({ length: 10 }, () => entry.decide(client, undefined, 'publish', 'same/topic')));
    expect(answers).toEqual(Array(10).fill('allow'));
    expect(service.requests - before).toBe(1);
    expect(entry.decide(client, undefined, 'receive', 'same/topic')).toBe('ignore');
    expect(entry.decide(client, undefined, 'subscribe', 'same/#')).toBe('ignore');
  });

  it('down: deny (or ignore) reused for downCacheTtlMs, then asked again', async () => {
    const url = `http://127.0.0.1:${await freePort()}/acl`;
    const entry = new HttpAuthorizationEntry({ url, downCacheTtlMs: 500, now: () => now });
    expect(await entry.decide(client, undefined, 'publish', 'x')).toBe('deny');
    expect(entry.decide(client, undefined, 'publish', 'x')).toBe('deny');
    now += 501;
    const again = entry.decide(client, undefined, 'publish', 'x');
    expect(again).toBeInstanceOf(Promise);
    expect(await again).toBe('deny');
    const lenient = new HttpAuthorizationEntry({ url, whenDown: 'ignore', now: () => now });
    expect(await lenient.decide(client, undefined, 'publish', 'x')).toBe('ignore');
    expect(entry.stats.down).toBe(2);
  });

  it('in a chain: a synchronous deny wins without waiting; otherwise the answer is awaited and combined', async () => {
    const slow: AuthorizationEntry = { type: 'slow', decide: () => new Promise((resolve) => setTimeout(() => resolve('allow'), 10)) };
    const denyAll: AuthorizationEntry = { type: 'deny', decide: () => 'deny' };
    const contexts = new ClientContexts();
    const denying = new ChainAuthorizer({ defaultChain: new AuthorizationChain([slow, denyAll], 'allow'), contexts });
    expect(denying.authorize(client, 'publish', 't')).toBe(false);
    const waiting = new ChainAuthorizer({ defaultChain: new AuthorizationChain([slow], 'deny'), contexts });
    const answer = waiting.authorize(client, 'publish', 't');
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toBe(true);
    // The synchronous checks do not wait: publish/subscribe read the unknown answer as 'ignore'
    // (noMatch deny here), receive as 'allow' (the send-time check waits for the real one).
    expect(waiting.canPublish(client, 't')).toBe(false);
    expect(waiting.canReceive(client, 't')).toBe(true);
  });
});
