/** The admin API routes the dashboard reads: paging, filters, the topic tree, retained browsing, the stats stream, the static shell. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { StatsSampler, HISTORY_SAMPLES } from '../../src/broker/stats-sampler.js';
import type { StreamReading } from '../../src/observability/index.js';
import { MAX_COUNTED_TOPICS, TopicRateCounter } from '../../src/broker/topic-rates.js';
import { dashboardAssetRoutes } from '../../src/broker/dashboard-assets.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient } from '../helpers/clients.js';

const TOKEN = 'dashboard-token-0123456789';
const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
const brokers: TestBroker[] = [];
afterEach(async () => {
  await closeAllClients();
  for (const b of brokers.splice(0)) await b.cleanup();
});

async function opsBroker(extra: Parameters<typeof startBroker>[0] = {}, parts: Parameters<typeof startBroker>[1] = {}): Promise<{ tb: TestBroker; base: string; get: (p: string) => Promise<any> }> {
  const tb = await startBroker({ http: { enabled: true, host: '127.0.0.1', port: 0, token: TOKEN }, ...extra }, parts);
  brokers.push(tb);
  const base = `http://127.0.0.1:${tb.broker.httpBoundAddress!.port}`;
  const get = async (p: string): Promise<any> => {
    const response = await fetch(`${base}${p}`, auth);
    expect(response.status, p).toBe(200);
    return response.json();
  };
  return { tb, base, get };
}

describe('GET /api/v1/sessions', () => {
  it('pages 10,000 sessions in client-id order and filters them by text and state', async () => {
    const { tb, base, get } = await opsBroker();
    for (let i = 0; i < 10_000; i++) tb.broker.sessions.create(`dev-${String(i).padStart(5, '0')}`, 4, 3600);
    await connectClient(tb.url, { clientId: 'live-one', username: 'alice' });

    const last = await get('/api/v1/sessions?offset=9995&limit=10');
    expect(last.total).toBe(10_001);
    expect(last.items.map((s: { id: string }) => s.id)).toEqual(['dev-09995', 'dev-09996', 'dev-09997', 'dev-09998', 'dev-09999', 'live-one']);

    const first = await get('/api/v1/sessions');
    expect(first.items).toHaveLength(50); // the default page
    expect(first.items[0]).toMatchObject({ id: 'dev-00000', isOnline: false, isPersistent: true, queued: 0, oldestQueuedAgeMs: null });

    const capped = await get('/api/v1/sessions?limit=100000');
    expect(capped.items).toHaveLength(500);

    const found = await get('/api/v1/sessions?q=DEV-0004');
    expect(found.total).toBe(10); // dev-00040 … dev-00049, case-insensitive

    const online = await get('/api/v1/sessions?state=online');
    expect(online.total).toBe(1);
    expect(online.items[0]).toMatchObject({ id: 'live-one', isOnline: true, username: 'alice', protocol: 4, keepAliveSeconds: 60 });
    expect(online.items[0].address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(Date.parse(online.items[0].connectedSince)).not.toBeNaN();
    expect((await get('/api/v1/sessions?q=alice')).items.map((s: { id: string }) => s.id)).toEqual(['live-one']);

    for (const bad of ['offset=-1', 'limit=ten', 'state=asleep', 'sort=colour']) {
      expect((await fetch(`${base}/api/v1/sessions?${bad}`, auth)).status, bad).toBe(400);
    }
    expect((await fetch(`${base}/api/v1/sessions`)).status).toBe(401);
  });

  it('shows a queue falling behind: depth and the age of its oldest queued message', async () => {
    let clock = 1_000_000;
    const { tb, get } = await opsBroker({}, { now: () => clock });
    const sub = await connectClient(tb.url, { clientId: 'slow', clean: false });
    await sub.subscribeAsync('q/#', { qos: 1 });
    await sub.endAsync();
    const pub = await connectClient(tb.url, { clientId: 'pub' });
    await pub.publishAsync('q/1', 'a', { qos: 1 });
    clock += 2_000;
    await pub.publishAsync('q/2', 'b', { qos: 1 });
    clock += 3_000;
    const page = await get('/api/v1/sessions?sort=queued&state=offline');
    expect(page.items[0]).toMatchObject({ id: 'slow', queued: 2, queuedBytes: 2, isOnline: false, oldestQueuedAgeMs: 5_000, dropped: { 'queue-full': 0 } });
  });
});

describe('GET /api/v1/topics', () => {
  it('expands the tree level by level with subscriptions, retained counts and message rates', async () => {
    let clock = 5_000_000;
    const { tb, get } = await opsBroker({}, { now: () => clock });
    const sub = await connectClient(tb.url, { clientId: 'tree-sub' });
    await sub.subscribeAsync(['a/b/c', 'a/+/d', '$share/g/a/b', 'x/#']);
    const pub = await connectClient(tb.url, { clientId: 'tree-pub' });
    await pub.publishAsync('a/b/kept', 'r', { retain: true, qos: 1 });

    const first = await get('/api/v1/topics');
    expect(first.isRateReady).toBe(false); // counting starts with the first read
    for (let i = 0; i < 10; i++) await pub.publishAsync('a/b/c', String(i), { qos: 1 });
    await pub.publishAsync('x/y', 'z', { qos: 1 });
    clock += 5_000;

    const root = await get('/api/v1/topics');
    expect(root.isRateReady).toBe(true);
    const a = root.children.find((c: { name: string }) => c.name === 'a');
    expect(a).toMatchObject({ path: 'a', subscriptions: 0, subscriptionsBelow: 3, retainedBelow: 1, hasChildren: true });
    expect(a.messagesPerSecond).toBeCloseTo(2, 5); // 10 messages over 5 s
    expect(root.children.find((c: { name: string }) => c.name === 'x').messagesPerSecond).toBeCloseTo(0.2, 5);

    const ab = await get('/api/v1/topics?parent=a/b');
    expect(ab.subscriberCount).toBe(1); // the shared subscription sits at a/b
    expect(ab.subscribers[0]).toMatchObject({ clientId: 'tree-sub', filter: '$share/g/a/b', shareGroup: 'g' });
    expect(ab.children.map((c: { name: string }) => c.name)).toEqual(['c', 'kept']);
    expect(ab.children[0]).toMatchObject({ subscriptions: 1, hasChildren: false });
  });

  it('counts nothing until read, and stays bounded when topics outnumber the bound', () => {
    let clock = 0;
    const counter = new TopicRateCounter(() => clock);
    counter.count('before/read');
    expect(counter.isOn).toBe(false);
    counter.read();
    for (let i = 0; i < MAX_COUNTED_TOPICS + 100; i++) counter.count(`fleet/dev-${i}/temp`);
    clock += 10_000;
    const rates = counter.read();
    expect(rates.perSecond.size).toBe(MAX_COUNTED_TOPICS + 1);
    expect(rates.perSecond.get('fleet/…')).toBeCloseTo(100 / 10, 5);
    expect(rates.perSecond.has('before/read')).toBe(false);
  });
});

describe('GET /api/v1/retained/browse', () => {
  it('browses by topic prefix, paged, with payload previews', async () => {
    const { tb, base, get } = await opsBroker();
    const pub = await connectClient(tb.url, { clientId: 'ret-pub' });
    await pub.publishAsync('home/kitchen/temp', '21.5', { retain: true, qos: 1 });
    await pub.publishAsync('home/kitchen/json', '{"on":true}', { retain: true, qos: 1 });
    await pub.publishAsync('home/hall/bin', Buffer.from([0xff, 0x00, 0xfe]), { retain: true, qos: 1 });
    await pub.publishAsync('office/temp', '19', { retain: true, qos: 1 });

    const kitchen = await get('/api/v1/retained/browse?prefix=home/kitchen');
    expect(kitchen.total).toBe(2);
    expect(kitchen.items.map((i: { topic: string }) => i.topic)).toEqual(['home/kitchen/json', 'home/kitchen/temp']);
    expect(Buffer.from(kitchen.items[1].payloadBase64, 'base64').toString()).toBe('21.5');

    const home = await get('/api/v1/retained/browse?prefix=home&limit=1&offset=0');
    expect(home).toMatchObject({ total: 3, limit: 1 });
    expect(home.items[0]).toMatchObject({ topic: 'home/hall/bin', bytes: 3, isUtf8: false, isTruncated: false });

    expect((await get('/api/v1/retained/browse?q=temp')).total).toBe(2);
    expect((await get('/api/v1/retained/browse')).total).toBe(4);
    expect((await fetch(`${base}/api/v1/retained/browse?prefix=home/%23`, auth)).status).toBe(400);
  });
});

describe('the stats stream', () => {
  // The stream view's shape (streamView of the counters table); the table's own places are checked in counters-views.test.ts.
  const reading = (values: Record<string, number> = {}, dropped: Record<string, number> = { 'queue-full': 0 }): StreamReading => ({
    values: { messagesReceived: 0, bytesSent: 0, connections: 0, ...values },
    rates: { messagesReceived: 'messagesInPerSecond', bytesSent: 'bytesOutPerSecond' },
    groups: { dropped },
  });

  it('samples rates from counter differences and keeps 15 minutes', () => {
    let clock = 0;
    let current = reading();
    const sampler = new StatsSampler(() => current, () => clock);
    const seen: number[] = [];
    sampler.subscribe((s) => seen.push(s.messagesInPerSecond as number));
    sampler.sample();
    clock += 2000;
    current = reading({ messagesReceived: 100, bytesSent: 4000, connections: 3 }, { 'queue-full': 6 });
    const sample = sampler.sample();
    expect(sample).toEqual({ at: 2000, messagesInPerSecond: 50, bytesOutPerSecond: 2000, connections: 3, dropped: { 'queue-full': 6 }, droppedPerSecond: 3 });
    expect(seen).toEqual([0, 50]);
    for (let i = 0; i < HISTORY_SAMPLES + 10; i++) {
      clock += 1000;
      sampler.sample();
    }
    expect(sampler.samples).toHaveLength(HISTORY_SAMPLES);
    expect(sampler.samples[0]!.at).toBe(clock - (HISTORY_SAMPLES - 1) * 1000);
  });

  it('streams history then one sample a second over Server-Sent Events, behind the token', async () => {
    const { tb, base } = await opsBroker();
    expect((await fetch(`${base}/api/v1/stats/stream`)).status).toBe(401);
    const abort = new AbortController();
    const response = await fetch(`${base}/api/v1/stats/stream`, { ...auth, signal: abort.signal });
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const pub = await connectClient(tb.url, { clientId: 'stream-pub' });
    const publishing = setInterval(() => void pub.publishAsync('s/t', 'x').catch(() => undefined), 20);
    try {
      let text = '';
      const events: Array<{ event: string; data: any }> = [];
      // Until a sample shows the messages published meanwhile (the timer ticks once a second).
      while (!events.some((e) => e.event === 'sample' && e.data.messagesInPerSecond > 0 && e.data.connections === 1)) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += value;
        let end;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      }
      expect(events[0]!.event).toBe('history');
      expect(Array.isArray(events[0]!.data)).toBe(true);
    } finally {
      clearInterval(publishing);
      abort.abort();
    }
  }, 30_000);
});

describe('the dashboard shell', () => {
  it('is served without the token, with a CSP, gzip when accepted, and only files of the build', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'midge-dash-'));
    try {
      await writeFile(path.join(dir, 'index.html'), '<!doctype html><script type="module" src="app.js"></script>');
      await writeFile(path.join(dir, 'app.js'), 'console.log(1)');
      await writeFile(path.join(dir, 'app.js.gz'), gzipSync('console.log(1)'));
      await writeFile(path.join(dir, 'secret.txt'), 'not an asset type');
      const routes = dashboardAssetRoutes(() => [{ scheme: 'ws', port: 8080 }], dir);
      const page = routes.find((r) => r.path.test('/dashboard/'))!;
      expect(routes.every((r) => r.isPublic)).toBe(true);
      const index = await page.handle({ file: '' }, new URLSearchParams(), undefined, {});
      expect(index.status).toBe(200);
      expect(index.contentType).toMatch(/^text\/html/);
      expect(index.headers!['content-security-policy']).toMatch(/default-src 'self'; script-src 'self'/);
      expect(index.headers!['content-security-policy']).toMatch(/connect-src 'self' ws:\/\/\*:8080/);
      expect(index.headers!['content-security-policy']).not.toMatch(/unsafe-inline|unsafe-eval/);
      const zipped = await page.handle({ file: 'app.js' }, new URLSearchParams(), undefined, { 'accept-encoding': 'gzip, br' });
      expect(zipped.headers!['content-encoding']).toBe('gzip');
      const plain = await page.handle({ file: 'app.js' }, new URLSearchParams(), undefined, {});
      expect(String(plain.body)).toBe('console.log(1)');
      expect((await page.handle({ file: 'secret.txt' }, new URLSearchParams(), undefined, {})).status).toBe(404);
      expect((await page.handle({ file: '..' }, new URLSearchParams(), undefined, {})).status).toBe(404);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('needs no token for the shell on a broker that has one, but every data route does', async () => {
    const { base } = await opsBroker();
    const shell = await fetch(`${base}/dashboard/`);
    expect(shell.status).not.toBe(401); // 200 once built, 404 "not built" otherwise — never a token prompt
    const redirect = await fetch(`${base}/dashboard`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/dashboard/');
    for (const route of ['/api/v1/overview', '/api/v1/sessions', '/api/v1/topics', '/api/v1/retained/browse', '/api/v1/stats/history']) {
      expect((await fetch(`${base}${route}`)).status, route).toBe(401);
      expect((await fetch(`${base}${route}`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, route).toBe(401);
    }
    const overview = await (await fetch(`${base}/api/v1/overview`, auth)).json();
    expect(overview).toMatchObject({ listeners: [{ type: 'mqtt', host: '127.0.0.1' }], connections: 0, features: { bridges: true, connectors: false } });
  });

  it('the overview says connectors are there once a connector or a durable queue is configured', async () => {
    const withQueue = await opsBroker({ queues: [{ name: 'jobs', topics: ['jobs/#'] }] });
    expect((await withQueue.get('/api/v1/overview')).features).toEqual({ bridges: true, connectors: true, cluster: false });
    // An HTTP sink with nothing to deliver never calls its URL (port 9, discard: nothing listens).
    const withConnector = await opsBroker({ connectors: [{ name: 'hook', type: 'http', url: 'http://127.0.0.1:9/in', sink: { topics: ['hook/#'] } }] });
    expect((await withConnector.get('/api/v1/overview')).features.connectors).toBe(true);
  });
});
