/**
 * The HTTP auth service as an authorization entry, through real sockets and a local node:http
 * service: publish, subscribe and receive checks allowed and denied, a slow service (timeout) and a
 * down one (deny by default, configurable), the cache (a repeated check does not reach the service)
 * and the order of a client's PUBLISHes kept while answers are pending.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllClients, connectClient, MessageCollector } from '../helpers/clients.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { freePort } from '../helpers/ports.js';
import { sendJson, startHttpServer, type LocalHttpServer } from './helpers.js';

interface AuthzRequest {
  clientId: string;
  username: string | null;
  action: 'publish' | 'subscribe' | 'receive';
  topic: string;
}

describe('HTTP authorization service', () => {
  let service: LocalHttpServer;
  let b: TestBroker;
  const seen: AuthzRequest[] = [];

  beforeAll(async () => {
    service = await startHttpServer((req, body, res) => {
      const request = JSON.parse(body) as AuthzRequest;
      seen.push(request);
      if (req.headers['x-service-key'] !== 'k-authz') return sendJson(res, 401);
      const [area] = request.topic.split('/');
      if (area === 'slow') {
        setTimeout(() => sendJson(res, 200), 30_000).unref();
        return;
      }
      if (area === 'broken') return sendJson(res, 503);
      if (area === 'no-pub' && request.action === 'publish') return sendJson(res, 403);
      if (area === 'no-sub' && request.action === 'subscribe') return sendJson(res, 200, { result: 'deny' });
      if (request.topic.startsWith('feed/secret') && request.action === 'receive') return sendJson(res, 403);
      // Answers come back after a little while, in no particular order: the broker must keep order.
      setTimeout(() => sendJson(res, 200), Math.floor(Math.random() * 8)).unref();
    });
    b = await startBroker({
      auth: {
        chain: [{ type: 'anonymous' }],
        // A generous timeout: the machine is shared, a loaded service must not look down.
        authorization: { chain: [{ type: 'http', url: `${service.url}/mqtt/acl`, headers: { 'x-service-key': 'k-authz' }, timeoutMs: 1500 }], noMatch: 'deny' },
      },
    });
  });
  afterAll(async () => {
    await closeAllClients();
    await b.cleanup();
    await service.close();
  });

  it('allows publish, subscribe and receive; each request names client id, user name, action and topic', async () => {
    const sub = await connectClient(b.url, { clientId: 'allow-sub', protocolVersion: 5 });
    const seenBy = new MessageCollector(sub);
    const granted = await sub.subscribeAsync('open/#', { qos: 1 });
    expect(granted[0]!.qos).toBe(1);
    const pub = await connectClient(b.url, { clientId: 'allow-pub', protocolVersion: 5 });
    await pub.publishAsync('open/a', 'hello', { qos: 1 });
    expect((await seenBy.waitFor(1, 10_000))[0]!.payload).toBe('hello');
    expect(seen).toContainEqual({ clientId: 'allow-sub', username: null, action: 'subscribe', topic: 'open/#' });
    expect(seen).toContainEqual({ clientId: 'allow-pub', username: null, action: 'publish', topic: 'open/a' });
    expect(seen).toContainEqual({ clientId: 'allow-sub', username: null, action: 'receive', topic: 'open/a' });
  });

  it('publish denied: 5.0 PUBACK 0x87 [5.0 MQTT-3.4.2-1]; 3.1.1 acknowledged but dropped [3.1.1 MQTT-3.3.5-2]', async () => {
    const sub = await connectClient(b.url, { clientId: 'np-sub', protocolVersion: 5 });
    const got = new MessageCollector(sub);
    await sub.subscribeAsync('no-pub/#', { qos: 1 });
    await sub.subscribeAsync('open/np-marker', { qos: 1 });
    const v5 = await connectClient(b.url, { clientId: 'np-v5', protocolVersion: 5 });
    await expect(v5.publishAsync('no-pub/x', 'refused', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    const v4 = await connectClient(b.url, { clientId: 'np-v4', protocolVersion: 4 });
    await v4.publishAsync('no-pub/y', 'dropped', { qos: 1 });
    await v4.publishAsync('no-pub/z', 'dropped-qos0', { qos: 0 });
    // Published after the refused ones by the same client: order says the others never came.
    await v4.publishAsync('open/np-marker', 'marker', { qos: 1 });
    const messages = await got.waitFor(1, 10_000);
    expect(messages.map((m) => m.payload)).toEqual(['marker']);
  });

  it('subscribe denied: SUBACK 0x80 (3.1.1) [3.1.1 MQTT-3.9.3-2] / 0x87 (5.0); the allowed filter of the same SUBSCRIBE is granted', async () => {
    const v4 = await connectClient(b.url, { clientId: 'ns-v4', protocolVersion: 4 });
    await expect(v4.subscribeAsync({ 'no-sub/a': { qos: 1 }, 'open/ns': { qos: 1 } })).rejects.toMatchObject({ packet: { granted: [0x80, 1] } });
    const v5 = await connectClient(b.url, { clientId: 'ns-v5', protocolVersion: 5 });
    await expect(v5.subscribeAsync({ 'no-sub/a': { qos: 1 } })).rejects.toMatchObject({ packet: { granted: [0x87] } });
  });

  it('receive denied: a wildcard subscription does not deliver a topic the service refuses to this client', async () => {
    const sub = await connectClient(b.url, { clientId: 'nr-sub', protocolVersion: 5 });
    const got = new MessageCollector(sub);
    await sub.subscribeAsync('feed/#', { qos: 1 });
    const pub = await connectClient(b.url, { clientId: 'nr-pub', protocolVersion: 5 });
    await pub.publishAsync('feed/secret', 'not for you', { qos: 1 });
    await pub.publishAsync('feed/secret', 'not for you either', { qos: 0 });
    await pub.publishAsync('feed/public', 'for you', { qos: 1 });
    // Deliveries to one client keep their order, so the refused ones would have come first.
    const messages = await got.waitFor(1, 10_000);
    expect(messages.map((m) => m.payload)).toEqual(['for you']);
  });

  it('a slow service (over timeoutMs) and a 5xx count as down: denied by default', { timeout: 30_000 }, async () => {
    const client = await connectClient(b.url, { clientId: 'slow-pub', protocolVersion: 5 });
    await expect(client.publishAsync('slow/x', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    await expect(client.publishAsync('broken/x', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    await expect(client.subscribeAsync('broken/#', { qos: 1 })).rejects.toMatchObject({ packet: { granted: [0x87] } });
  });

  it('PUBLISH order per client is kept while answers are pending (50 topics, each a cache miss)', { timeout: 30_000 }, async () => {
    const sub = await connectClient(b.url, { clientId: 'order-sub', protocolVersion: 5 });
    const got = new MessageCollector(sub);
    await sub.subscribeAsync('order/#', { qos: 1 });
    const pub = await connectClient(b.url, { clientId: 'order-pub', protocolVersion: 5 });
    const sends = Array.from({ length: 50 }, (_, i) => pub.publishAsync(`order/${i}`, String(i), { qos: (i % 2) as 0 | 1 }));
    await Promise.all(sends);
    const messages = await got.waitFor(50, 20_000);
    expect(messages.map((m) => m.payload)).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
  });

  it('cached answers: 1,000 publishes on one topic ask the service once per check (hit ratio ≥ 99 %)', { timeout: 30_000 }, async () => {
    const sub = await connectClient(b.url, { clientId: 'cache-sub', protocolVersion: 5 });
    const got = new MessageCollector(sub);
    await sub.subscribeAsync('cached/t', { qos: 0 });
    const pub = await connectClient(b.url, { clientId: 'cache-pub', protocolVersion: 5 });
    const before = service.requests;
    for (let i = 0; i < 999; i++) pub.publish('cached/t', String(i), { qos: 0 });
    await pub.publishAsync('cached/t', 'last', { qos: 1 });
    await got.waitFor(1000, 20_000);
    // 2,000 checks (1,000 publish, 1,000 receive): one request each for the two distinct keys.
    expect(service.requests - before).toBeLessThanOrEqual(2);
    expect(got.messages.map((m) => m.payload).at(-1)).toBe('last');
  });
});

describe('HTTP authorization service down', () => {
  let port: number;
  beforeAll(async () => {
    port = await freePort(); // nothing listens there
  });
  afterAll(async () => {
    await closeAllClients();
  });

  it('deny by default: PUBACK 0x87, SUBACK 0x87 (5.0) / 0x80 (3.1.1)', async () => {
    const b = await startBroker({ auth: { chain: [{ type: 'anonymous' }], authorization: { chain: [{ type: 'http', url: `http://127.0.0.1:${port}/acl` }], noMatch: 'allow' } } });
    try {
      const v5 = await connectClient(b.url, { clientId: 'down-5', protocolVersion: 5 });
      await expect(v5.publishAsync('a/b', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
      await expect(v5.subscribeAsync('a/#', { qos: 1 })).rejects.toMatchObject({ packet: { granted: [0x87] } });
      const v4 = await connectClient(b.url, { clientId: 'down-4', protocolVersion: 4 });
      await expect(v4.subscribeAsync('a/#', { qos: 1 })).rejects.toMatchObject({ packet: { granted: [0x80] } });
    } finally {
      await b.cleanup();
    }
  });

  it('whenDown: ignore leaves the decision to the rest of the chain (noMatch allow here)', async () => {
    const b = await startBroker({
      auth: { chain: [{ type: 'anonymous' }], authorization: { chain: [{ type: 'http', url: `http://127.0.0.1:${port}/acl`, whenDown: 'ignore' }], noMatch: 'allow' } },
    });
    try {
      const client = await connectClient(b.url, { clientId: 'down-ignore', protocolVersion: 5 });
      const got = new MessageCollector(client);
      expect((await client.subscribeAsync('a/#', { qos: 1 }))[0]!.qos).toBe(1);
      await client.publishAsync('a/b', 'through', { qos: 1 });
      expect((await got.waitFor(1, 10_000))[0]!.payload).toBe('through');
    } finally {
      await b.cleanup();
    }
  });
});
