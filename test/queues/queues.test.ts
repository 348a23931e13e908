/**
 * Durable queues (`queues:` and `$queue/<name>` consumers) with the level store, real sockets and
 * MQTT.js: messages wait with no consumer (also across an in-process restart), each goes to
 * exactly one of two consumers, a consumer that dies with messages unacknowledged leaves them to
 * another, `maxDeliveries` sends a message to `$dlq/<queue>` with the reason as MQTT 5 user
 * properties, the replay endpoint puts dead letters back, the bounds drop the configured side and
 * count it, and the counters show in /metrics, $SYS and GET /api/v1/queues.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { CreateBrokerOptions } from '../../src/index.js';
import type { QueueStatus } from '../../src/queues/index.js';
import { closeAllClients, connectCollecting, type MessageCollector } from '../helpers/clients.js';
import { makeTempDir, startBroker, type TestBroker } from '../helpers/broker.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(closeAllClients);
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
});

type QueueInput = NonNullable<CreateBrokerOptions['queues']>[number];

async function brokerWith(queues: QueueInput[], extra: CreateBrokerOptions = {}): Promise<TestBroker> {
  const tb = await startBroker({ store: { type: 'level' }, queues, ...extra });
  cleanups.push(() => tb.cleanup());
  return tb;
}

function queueStatus(tb: TestBroker, name: string): QueueStatus {
  return tb.broker.serviceList.find((s) => s.name === name && (s.status as { kind?: string }).kind === 'queue')!.status as QueueStatus;
}

async function publishAll(url: string, topic: string, count: number, qos: 0 | 1 = 1): Promise<void> {
  const publisher = await mqtt.connectAsync(url, { clientId: `pub-${Math.random().toString(36).slice(2)}`, reconnectPeriod: 0, protocolVersion: 5 });
  for (let n = 0; n < count; n++) await publisher.publishAsync(topic, String(n), { qos });
  await publisher.endAsync();
}

/** A consumer that receives but never acknowledges (MQTT.js sends PUBACK only after handleMessage's callback). */
async function connectHoarder(url: string, clientId: string): Promise<{ client: MqttClient; received: string[] }> {
  const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, protocolVersion: 5 });
  const received: string[] = [];
  client.handleMessage = (packet) => {
    received.push(String(packet.payload));
  };
  await client.subscribeAsync('$queue/jobs', { qos: 1 });
  return { client, received };
}

function payloads(collector: MessageCollector): string[] {
  return collector.messages.map((m) => m.payload);
}

const numbers = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => String(from + i));

describe('durable queues', () => {
  it('keeps messages while no consumer is connected, then delivers them in order; also after a restart', async () => {
    const dataDir = await makeTempDir();
    const first = await startBroker({ store: { type: 'level' }, dataDir, queues: [{ name: 'jobs', topics: ['jobs/#'] }] });
    await publishAll(first.url, 'jobs/a', 40);
    expect(queueStatus(first, 'jobs')).toMatchObject({ depth: 40, consumers: 0, delivered: 0 });
    // A consumer with a persistent session subscribes, takes 10, and leaves; its subscription stays.
    const { client: c1, collector: got1 } = await connectCollecting(first.url, { clientId: 'worker', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    await c1.subscribeAsync('$queue/jobs', { qos: 1 });
    await got1.waitFor(40);
    expect(payloads(got1)).toEqual(numbers(0, 40));
    await expect.poll(() => queueStatus(first, 'jobs').depth).toBe(0);
    await c1.endAsync();
    // Offline consumer: these wait in the queue (its store), across the restart.
    await publishAll(first.url, 'jobs/b', 30);
    expect(queueStatus(first, 'jobs').depth).toBe(30);
    await first.stop();

    const second = await startBroker({ store: { type: 'level' }, dataDir, queues: [{ name: 'jobs', topics: ['jobs/#'] }] });
    cleanups.push(() => second.cleanup());
    expect(queueStatus(second, 'jobs')).toMatchObject({ depth: 30, consumers: 1, consumersConnected: 0 });
    // The consumer's stored `$queue/jobs` subscription is restored: reconnecting is enough.
    const { collector: got2 } = await connectCollecting(second.url, { clientId: 'worker', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    await got2.waitFor(30);
    expect(payloads(got2)).toEqual(numbers(0, 30));
    expect(got2.messages.every((m) => m.topic === 'jobs/b')).toBe(true);
    await expect.poll(() => queueStatus(second, 'jobs').depth).toBe(0);
    expect(queueStatus(second, 'jobs').delivered).toBe(30);
  }, 60_000);

  it('storeQos0 keeps QoS 0 messages across a restart; they are delivered at QoS 0 [3.1.1 MQTT-3.8.4-6]', async () => {
    const dataDir = await makeTempDir();
    const queues = [
      { name: 'kept', topics: ['kept/#'], storeQos0: true },
      { name: 'memo', topics: ['memo/#'] },
    ];
    const first = await startBroker({ store: { type: 'level' }, dataDir, queues });
    await publishAll(first.url, 'kept/t', 5, 0);
    await publishAll(first.url, 'memo/t', 3, 0);
    await expect.poll(() => queueStatus(first, 'kept').depth).toBe(5);
    // Without storeQos0 they wait in memory only.
    expect(queueStatus(first, 'memo').depth).toBe(3);
    await first.stop();
    const second = await startBroker({ store: { type: 'level' }, dataDir, queues });
    cleanups.push(() => second.cleanup());
    expect(queueStatus(second, 'kept').depth).toBe(5);
    expect(queueStatus(second, 'memo').depth).toBe(0);
    const { client, collector } = await connectCollecting(second.url, { clientId: 'qos0-worker', protocolVersion: 5 });
    await client.subscribeAsync('$queue/kept', { qos: 1 });
    await collector.waitFor(5);
    expect(payloads(collector)).toEqual(numbers(0, 5));
    expect(collector.messages.every((m) => m.packet.qos === 0)).toBe(true);
    await expect.poll(() => queueStatus(second, 'kept').depth).toBe(0);
  }, 60_000);

  it('shares the queue between two consumers: each message once, both get some', async () => {
    const tb = await brokerWith([{ name: 'jobs', topics: ['jobs/#'] }]);
    const { client: a, collector: gotA } = await connectCollecting(tb.url, { clientId: 'a', protocolVersion: 5 });
    const { client: b, collector: gotB } = await connectCollecting(tb.url, { clientId: 'b', protocolVersion: 4 });
    await a.subscribeAsync('$queue/jobs', { qos: 1 });
    await b.subscribeAsync('$queue/jobs', { qos: 1 });
    await publishAll(tb.url, 'jobs/x', 200);
    await expect.poll(() => gotA.messages.length + gotB.messages.length, { timeout: 30_000 }).toBe(200);
    const all = [...payloads(gotA), ...payloads(gotB)];
    expect(new Set(all).size).toBe(200);
    expect(gotA.messages.length).toBeGreaterThan(0);
    expect(gotB.messages.length).toBeGreaterThan(0);
    // Nothing on an ordinary subscription of the queue's name: `$queue/jobs` is not a topic.
    expect(all.sort((x, y) => Number(x) - Number(y))).toEqual(numbers(0, 200));
    await expect.poll(() => queueStatus(tb, 'jobs').delivered).toBe(200);
    expect(queueStatus(tb, 'jobs')).toMatchObject({ depth: 0, consumersConnected: 2, redelivered: 0 });
  }, 60_000);

  it('gives what a dying consumer left unacknowledged to another consumer', async () => {
    const tb = await brokerWith([{ name: 'jobs', topics: ['jobs/#'], maxDeliveries: 5 }]);
    const hoarder = await connectHoarder(tb.url, 'hoarder');
    await publishAll(tb.url, 'jobs/x', 20);
    await expect.poll(() => hoarder.received.length).toBeGreaterThan(0);
    expect(queueStatus(tb, 'jobs').inflight).toBeGreaterThan(0);
    const { client: heir, collector: got } = await connectCollecting(tb.url, { clientId: 'heir', protocolVersion: 5 });
    await heir.subscribeAsync('$queue/jobs', { qos: 1 });
    // The hoarder dies without a DISCONNECT.
    hoarder.client.stream.destroy();
    await expect.poll(() => new Set(payloads(got)).size, { timeout: 30_000 }).toBe(20);
    expect([...new Set(payloads(got))].sort((x, y) => Number(x) - Number(y))).toEqual(numbers(0, 20));
    const redelivered = got.messages.filter((m) => hoarder.received.includes(m.payload));
    expect(redelivered.length).toBeGreaterThan(0);
    await expect.poll(() => queueStatus(tb, 'jobs').depth).toBe(0);
    expect(queueStatus(tb, 'jobs').redelivered).toBeGreaterThanOrEqual(redelivered.length);
  }, 60_000);

  it('sends a message to $dlq/<queue> after maxDeliveries, with the reason; the replay endpoint puts it back', async () => {
    const tb = await brokerWith([{ name: 'jobs', topics: ['jobs/#'], maxDeliveries: 2 }], { http: { enabled: true, host: '127.0.0.1', port: 0, token: 'sekrit-sekrit-sekrit' } });
    const api = `http://127.0.0.1:${tb.broker.httpBoundAddress!.port}`;
    const { client: watcher, collector: dead } = await connectCollecting(tb.url, { clientId: 'dlq-watcher', protocolVersion: 5 });
    await watcher.subscribeAsync('$dlq/jobs', { qos: 1 });
    await publishAll(tb.url, 'jobs/poison', 1);
    for (let delivery = 1; delivery <= 2; delivery++) {
      const hoarder = await connectHoarder(tb.url, `hoarder-${delivery}`);
      await expect.poll(() => hoarder.received.length, { message: `delivery ${delivery}: ${JSON.stringify(queueStatus(tb, 'jobs'))}` }).toBe(1);
      hoarder.client.stream.destroy();
      await expect.poll(() => queueStatus(tb, 'jobs').consumersConnected).toBe(0);
    }
    await expect.poll(() => dead.messages.length, { message: JSON.stringify(queueStatus(tb, 'jobs')) }).toBe(1);
    const [letter] = dead.messages;
    expect(letter!.topic).toBe('$dlq/jobs');
    expect(letter!.payload).toBe('0');
    expect(letter!.packet.properties?.userProperties).toMatchObject({ reason: 'max-deliveries', deliveries: '2', queue: 'jobs', topic: 'jobs/poison' });
    await expect.poll(() => queueStatus(tb, 'jobs')).toMatchObject({ deadLettered: 1, depth: 0 });

    // Replay, behind the admin token like every admin route.
    expect((await fetch(`${api}/api/v1/dlq/jobs/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(401);
    const auth = { authorization: 'Bearer sekrit-sekrit-sekrit', 'content-type': 'application/json' };
    expect((await fetch(`${api}/api/v1/dlq/nope/replay`, { method: 'POST', headers: auth, body: '{}' })).status).toBe(404);
    const replay = await fetch(`${api}/api/v1/dlq/jobs/replay`, { method: 'POST', headers: auth, body: '{}' });
    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual({ replayed: 1, into: '$queue/jobs' });
    expect(queueStatus(tb, 'jobs').depth).toBe(1);
    const { client: worker, collector: got } = await connectCollecting(tb.url, { clientId: 'worker', protocolVersion: 5 });
    await worker.subscribeAsync('$queue/jobs', { qos: 1 });
    const [back] = await got.waitFor(1);
    expect(back!.topic).toBe('jobs/poison');
    expect(back!.payload).toBe('0');
    expect(back!.packet.properties?.userProperties).toBeUndefined();
    // Nothing left to replay.
    expect(await (await fetch(`${api}/api/v1/dlq/jobs/replay`, { method: 'POST', headers: auth, body: '{}' })).json()).toEqual({ replayed: 0, into: '$queue/jobs' });
  }, 60_000);

  it('counts deliveries across restarts: maxDeliveries holds when every delivery ended with the broker', async () => {
    const dataDir = await makeTempDir();
    cleanups.push(() => import('node:fs/promises').then((fs) => fs.rm(dataDir, { recursive: true, force: true })));
    const queues = [{ name: 'jobs', topics: ['jobs/#'], maxDeliveries: 3 }];
    const start = (): Promise<TestBroker> => startBroker({ store: { type: 'level' }, dataDir, queues });
    let tb = await start();
    await publishAll(tb.url, 'jobs/poison', 1);
    // Deliveries 1 and 2 each end with the broker (stopped while the consumer holds the message):
    // without the count on the record, every restart counted them as one, and 3 was never reached.
    for (let delivery = 1; delivery <= 2; delivery++) {
      const hoarder = await connectHoarder(tb.url, `restart-hoarder-${delivery}`);
      await expect.poll(() => hoarder.received.length).toBe(1);
      await tb.stop();
      hoarder.client.end(true);
      tb = await start();
      expect(queueStatus(tb, 'jobs')).toMatchObject({ depth: 1, deadLettered: 0 });
    }
    cleanups.push(() => tb.stop());
    const { client: watcher, collector: dead } = await connectCollecting(tb.url, { clientId: 'restart-dlq-watcher', protocolVersion: 5 });
    await watcher.subscribeAsync('$dlq/jobs', { qos: 1 });
    const hoarder = await connectHoarder(tb.url, 'restart-hoarder-3');
    await expect.poll(() => hoarder.received.length).toBe(1);
    hoarder.client.stream.destroy();
    const [letter] = await dead.waitFor(1);
    expect(letter!.packet.properties?.userProperties).toMatchObject({ reason: 'max-deliveries', deliveries: '3', topic: 'jobs/poison' });
    await expect.poll(() => queueStatus(tb, 'jobs')).toMatchObject({ deadLettered: 1, depth: 0 });
  }, 60_000);

  it.each([
    ['drop-oldest', numbers(5, 15)],
    ['drop-newest', numbers(0, 10)],
    ['reject', numbers(0, 10)],
  ] as const)('a bound of 10 with overflow %s drops that side and counts it', async (overflow, kept) => {
    const tb = await brokerWith([{ name: 'jobs', topics: ['jobs/#'], maxMessages: 10, overflow }]);
    const publisher = await mqtt.connectAsync(tb.url, { clientId: 'bound-pub', reconnectPeriod: 0, protocolVersion: 5 });
    const refused: number[] = [];
    for (let n = 0; n < 15; n++) {
      await publisher.publishAsync('jobs/x', String(n), { qos: 1 }).catch((error: { code?: number }) => refused.push(error.code ?? -1));
    }
    await publisher.endAsync();
    // reject: the publisher hears 0x97 Quota exceeded [5.0 MQTT-3.4.2-1]; drop-*: a plain PUBACK.
    expect(refused).toEqual(overflow === 'reject' ? [0x97, 0x97, 0x97, 0x97, 0x97] : []);
    expect(queueStatus(tb, 'jobs')).toMatchObject({ depth: 10, dropped: 5, droppedByReason: { 'queue-full': 5 } });
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'bound-worker', protocolVersion: 5 });
    await client.subscribeAsync('$queue/jobs', { qos: 1 });
    await collector.waitFor(10);
    expect(payloads(collector)).toEqual(kept);
  }, 60_000);

  it('fills the queue whatever the ACL says of its session; a consumer gets only what it may read, the rest goes to another', async () => {
    const dir = await makeTempDir();
    cleanups.push(() => import('node:fs/promises').then((fs) => fs.rm(dir, { recursive: true, force: true })));
    const aclFile = path.join(dir, 'acl');
    writeFileSync(aclFile, 'topic write jobs/#\ntopic read $queue/jobs\npattern read jobs/%c\n');
    const tb = await brokerWith([{ name: 'jobs', topics: ['jobs/#'] }], { auth: { aclFile } });
    const publisher = await mqtt.connectAsync(tb.url, { clientId: 'acl-pub', reconnectPeriod: 0, protocolVersion: 5 });
    for (let n = 0; n < 6; n++) await publisher.publishAsync(n % 2 === 0 ? 'jobs/alice' : 'jobs/bob', String(n), { qos: 1 });
    await publisher.endAsync();
    // The queue's session has no user and no read rule: it is exempt, so all six wait.
    expect(queueStatus(tb, 'jobs').depth).toBe(6);
    const { client: alice, collector: gotAlice } = await connectCollecting(tb.url, { clientId: 'alice', protocolVersion: 5 });
    const { client: bob, collector: gotBob } = await connectCollecting(tb.url, { clientId: 'bob', protocolVersion: 5 });
    await Promise.all([alice.subscribeAsync('$queue/jobs', { qos: 1 }), bob.subscribeAsync('$queue/jobs', { qos: 1 })]);
    await expect.poll(() => gotAlice.messages.length + gotBob.messages.length, { timeout: 20_000 }).toBe(6);
    expect(gotAlice.messages.map((m) => m.topic)).toEqual(['jobs/alice', 'jobs/alice', 'jobs/alice']);
    expect(gotBob.messages.map((m) => m.topic)).toEqual(['jobs/bob', 'jobs/bob', 'jobs/bob']);
    await expect.poll(() => queueStatus(tb, 'jobs')).toMatchObject({ depth: 0, delivered: 6, deadLettered: 0, dropped: 0 });
  }, 60_000);

  it('reports per queue in /metrics, $SYS and GET /api/v1/queues; refuses unknown queues and $queue/ client ids', async () => {
    const tb = await brokerWith([{ name: 'jobs', topics: ['jobs/#'], dispatch: 'least-in-flight' }], { http: { enabled: true, host: '127.0.0.1', port: 0 }, sys: { interval: 1 } });
    const api = `http://127.0.0.1:${tb.broker.httpBoundAddress!.port}`;
    await publishAll(tb.url, 'jobs/x', 3);
    const list = (await fetch(`${api}/api/v1/queues`).then((r) => r.json())) as Array<Record<string, unknown>>;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ name: 'jobs', depth: 3, consumers: 0, delivered: 0, dropped: 0, deadLettered: 0, redelivered: 0 });
    expect(list[0]!.oldestAgeSeconds as number).toBeGreaterThanOrEqual(0);
    expect((await fetch(`${api}/api/v1/queues/nope`)).status).toBe(404);
    // Queues are not bridges.
    expect(await fetch(`${api}/api/v1/bridges`).then((r) => r.json())).toEqual([]);

    const { client: sys, collector: sysGot } = await connectCollecting(tb.url, { clientId: 'sys-reader', protocolVersion: 5 });
    await sys.subscribeAsync('$SYS/broker/queue/jobs/depth');
    await expect.poll(() => sysGot.messages.some((m) => m.payload === '3'), { timeout: 10_000 }).toBe(true);

    const { client, collector } = await connectCollecting(tb.url, { clientId: 'metrics-worker', protocolVersion: 5 });
    await client.subscribeAsync('$queue/jobs', { qos: 1 });
    // An unknown queue: SUBACK 0x8F Topic Filter invalid, one of the Subscribe Reason Codes [5.0 MQTT-3.9.3-2].
    await expect(client.subscribeAsync('$queue/unknown', { qos: 1 })).rejects.toThrow(/Topic Filter invalid/);
    await collector.waitFor(3);
    await expect.poll(async () => fetch(`${api}/metrics`).then((r) => r.text()), { timeout: 10_000 }).toContain('midge_queue_delivered_total{queue="jobs"} 3');
    const metrics = await fetch(`${api}/metrics`).then((r) => r.text());
    expect(metrics).toContain('midge_queue_depth_messages{queue="jobs"} 0');
    expect(metrics).toContain('midge_queue_consumers{queue="jobs"} 1');
    expect(metrics).toMatch(/midge_queue_oldest_age_seconds\{queue="jobs"\} 0/);
    await expect(mqtt.connectAsync(tb.url, { clientId: '$queue/jobs', reconnectPeriod: 0, protocolVersion: 5 })).rejects.toThrow();
  }, 60_000);
});
