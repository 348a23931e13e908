/** /metrics, /health, /ready, the admin API and $SYS, against a live broker. */
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient, connectCollecting } from '../helpers/clients.js';

const brokers: TestBroker[] = [];
afterEach(async () => {
  await closeAllClients();
  for (const b of brokers.splice(0)) await b.cleanup();
});

const TOKEN = 'test-token-0123456789';

async function opsBroker(extra: Parameters<typeof startBroker>[0] = {}): Promise<{ tb: TestBroker; base: string }> {
  const tb = await startBroker({ http: { enabled: true, host: '127.0.0.1', port: 0, token: TOKEN }, ...extra });
  brokers.push(tb);
  return { tb, base: `http://127.0.0.1:${tb.broker.httpBoundAddress!.port}` };
}

const auth = { headers: { authorization: `Bearer ${TOKEN}` } };

function metricValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line ? Number(line.split(' ').pop()) : NaN;
}

describe('HTTP operations endpoints', () => {
  it('/health answers without a token; everything else needs it', async () => {
    const { base } = await opsBroker();
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-token-000000000' } })).status).toBe(401);
    expect((await fetch(`${base}/ready`, auth)).status).toBe(200);
    expect((await fetch(`${base}/nope`, auth)).status).toBe(404);
  });

  it('/metrics figures move as clients connect and publish', async () => {
    const { tb, base } = await opsBroker();
    const before = await (await fetch(`${base}/metrics`, auth)).text();
    expect(metricValue(before, 'midge_connections')).toBe(0);
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'm-sub' });
    await client.subscribeAsync('m/t', { qos: 1 });
    const pub = await connectClient(tb.url, { clientId: 'm-pub' });
    for (let i = 0; i < 5; i++) await pub.publishAsync('m/t', 'x', { qos: 1 });
    await pub.publishAsync('m/t', 'y', { qos: 0 });
    await collector.waitFor(6);
    const after = await (await fetch(`${base}/metrics`, auth)).text();
    expect(metricValue(after, 'midge_connections')).toBe(2);
    expect(metricValue(after, 'midge_messages_received_total', '{qos="1"}')).toBe(5);
    expect(metricValue(after, 'midge_messages_received_total', '{qos="0"}')).toBe(1);
    expect(metricValue(after, 'midge_messages_sent_total', '{qos="1"}')).toBe(5);
    expect(metricValue(after, 'midge_subscriptions')).toBe(1);
    expect(after).toMatch(/midge_store_batch_seconds_bucket/);
    expect(after).toMatch(/midge_nodejs_eventloop_lag_seconds/);
    expect(after).toMatch(/midge_process_resident_memory_bytes/);
    const refused = await connectClient(tb.url, { clientId: '$bridge/not-yours' }).catch(() => undefined);
    expect(refused).toBeUndefined();
    expect(metricValue(await (await fetch(`${base}/metrics`, auth)).text(), 'midge_connects_refused_total', '{reason="0x85"}')).toBe(1);
    await pub.endAsync();
    await expect
      .poll(async () => metricValue(await (await fetch(`${base}/metrics`, auth)).text(), 'midge_disconnects_total', '{reason="client-disconnect"}'))
      .toBe(1);
  });

  it('admin API: clients, one client, subscriptions, retained, stats, and DELETEs', async () => {
    const { tb, base } = await opsBroker();
    const { client } = await connectCollecting(tb.url, { clientId: 'adm', clean: false });
    await client.subscribeAsync(['a/+', 'b/#'], { qos: 1 });
    await client.publishAsync('r/1', 'kept', { qos: 1, retain: true });
    const clients = (await (await fetch(`${base}/api/v1/clients`, auth)).json()) as Array<Record<string, unknown>>;
    expect(clients).toEqual([expect.objectContaining({ id: 'adm', isOnline: true, protocol: 4, subscriptions: 2, queued: 0, inflight: 0 })]);
    expect(clients[0]!.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const one = (await (await fetch(`${base}/api/v1/clients/adm`, auth)).json()) as { subscriptionList: Array<{ filter: string }> };
    expect(one.subscriptionList.map((s) => s.filter).sort()).toEqual(['a/+', 'b/#']);
    expect((await fetch(`${base}/api/v1/clients/nobody`, auth)).status).toBe(404);
    const subs = (await (await fetch(`${base}/api/v1/subscriptions?filter=a/x`, auth)).json()) as Array<{ filter: string }>;
    expect(subs.map((s) => s.filter)).toEqual(['a/+']);
    const retained = (await (await fetch(`${base}/api/v1/retained?topic=r/%23`, auth)).json()) as Array<{ topic: string; payloadBase64: string }>;
    expect(retained).toEqual([expect.objectContaining({ topic: 'r/1', payloadBase64: Buffer.from('kept').toString('base64') })]);
    expect((await fetch(`${base}/api/v1/retained?topic=r/1`, { ...auth, method: 'DELETE' })).status).toBe(200);
    expect(tb.broker.admin.retained('r/1')).toBeUndefined();
    const stats = (await (await fetch(`${base}/api/v1/stats`, auth)).json()) as Record<string, number>;
    expect(stats.clientsConnected).toBe(1);
    expect(stats.subscriptions).toBe(2);

    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const del = await fetch(`${base}/api/v1/clients/adm?discardSession=true`, { ...auth, method: 'DELETE' });
    expect(await del.json()).toEqual({ disconnected: true, sessionDiscarded: true });
    await closed;
    expect(tb.broker.admin.session('adm')).toBeUndefined();
  });

  it('refuses to bind the admin API beyond loopback without a token', async () => {
    await expect(startBroker({ http: { enabled: true, host: '0.0.0.0', port: 0, token: null } })).rejects.toThrow(/http\.token/);
  });
});

describe('$SYS topics', () => {
  it('publishes Mosquitto-style $SYS/broker topics, retained, to $SYS subscribers only', async () => {
    const { tb } = await opsBroker({ sys: { interval: 1 } });
    const sys = await connectCollecting(tb.url, { clientId: 'sys-watch' });
    await sys.client.subscribeAsync('$SYS/broker/#', { qos: 0 });
    const everything = await connectCollecting(tb.url, { clientId: 'hash-watch' });
    await everything.client.subscribeAsync('#', { qos: 0 });
    // Retained: the subscription got the current values at once.
    await expect.poll(() => sys.collector.messages.some((m) => m.topic === '$SYS/broker/clients/connected')).toBe(true);
    const topics = new Set(sys.collector.messages.map((m) => m.topic));
    for (const t of ['version', 'uptime', 'clients/connected', 'clients/total', 'clients/maximum', 'messages/received', 'messages/sent', 'bytes/received', 'load/messages/received/1min', 'subscriptions/count', 'retained messages/count']) {
      expect(topics.has(`$SYS/broker/${t}`), t).toBe(true);
    }
    expect(sys.collector.messages.find((m) => m.topic === '$SYS/broker/version')!.payload).toMatch(/^midge version \d/);
    expect(sys.collector.messages.every((m) => m.packet.retain)).toBe(true);
    // The next interval reports both clients.
    await expect.poll(() => sys.collector.messages.filter((m) => m.topic === '$SYS/broker/clients/connected').at(-1)?.payload, { timeout: 3000 }).toBe('2');
    expect(everything.collector.messages.filter((m) => m.topic.startsWith('$SYS'))).toEqual([]);
  });
});

describe('$SYS and the retained bounds', () => {
  it('$SYS topics do not use up maxRetainedMessages', async () => {
    const { tb } = await opsBroker({ sys: { interval: 1 }, limits: { maxRetainedMessages: 3 } });
    await expect.poll(() => tb.broker.admin.retained('$SYS/broker/uptime') !== undefined).toBe(true);
    const pub = await connectClient(tb.url, { clientId: 'bound-pub' });
    for (let i = 0; i < 3; i++) await pub.publishAsync(`user/${i}`, 'v', { qos: 1, retain: true });
    expect(['user/0', 'user/1', 'user/2'].every((t) => tb.broker.admin.retained(t) !== undefined)).toBe(true);
    expect(tb.broker.admin.stats.retainedRefused).toBe(0);
  });
});
