/**
 * The AMQP sink against a real RabbitMQ (its own node, started by this file): 20,000 numbered
 * QoS 1 messages all in a durable queue, in order per topic; the server stopped and started,
 * frozen (kill -STOP/-CONT) and killed -9 mid-stream — every PUBACKed message still arrives;
 * an unroutable (mandatory) message goes to the dead-letter topic while good ones flow; a missing
 * exchange pauses the connector until it exists; Midge SIGKILLed mid-stream loses nothing; a
 * quorum or classic-v2 queue as the target needs nothing more of the sink.
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ChannelModel, GetMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import type { ConnectorStatus } from '../../src/connectors/index.js';
import type { CreateBrokerOptions } from '../../src/index.js';
import { connectCollecting } from '../helpers/clients.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/temp.js';
import { connectPublisher, isOrderKept, missingAcked, publishNumbered } from './helpers.js';
import { rabbitFixture } from './rabbit.js';
import { startThrottledProxy } from './throttled-proxy.js';

const rabbit = rabbitFixture('the AMQP sink tests');
const cleanups = rabbit.cleanups;

type ConnectorInput = NonNullable<CreateBrokerOptions['connectors']>[number];
const fast = { retryMinMs: 50, retryMaxMs: 500 };

const amqpConnect = (): Promise<ChannelModel> => rabbit.connect();

/** A durable queue bound to amq.topic with `bindingKey`, emptied first; `queueArguments` such as `x-queue-type`. */
async function declareQueue(queue: string, bindingKey: string, queueArguments: Record<string, unknown> = {}): Promise<void> {
  const connection = await amqpConnect();
  const channel = await connection.createChannel();
  await channel.assertQueue(queue, { durable: true, arguments: queueArguments });
  await channel.purgeQueue(queue);
  await channel.bindQueue(queue, 'amq.topic', bindingKey);
  await connection.close();
}

/** Reads the queue until `isDone(numbers by topic)` or the timeout; acks what it read. */
async function drainQueue(queue: string, isDone: (byTopic: Map<string, number[]>) => boolean, timeoutMs: number): Promise<{ byTopic: Map<string, number[]>; ids: string[] }> {
  const connection = await amqpConnect();
  const channel = await connection.createChannel();
  await channel.prefetch(2000);
  const byTopic = new Map<string, number[]>();
  const ids: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(recheck);
      reject(Object.assign(new Error(`queue ${queue}: not done within ${timeoutMs} ms (${ids.length} read)`), { byTopic }));
    }, timeoutMs);
    // isDone may depend on more than the messages (what was acked): look again now and then.
    const recheck = setInterval(() => {
      if (!isDone(byTopic)) return;
      clearTimeout(timer);
      clearInterval(recheck);
      resolve();
    }, 200);
    void channel.consume(queue, (message) => {
      if (!message) return;
      const topic = String(message.properties.headers?.['x-mqtt-topic']);
      const list = byTopic.get(topic) ?? [];
      list.push(Number(message.content.toString()));
      byTopic.set(topic, list);
      ids.push(String(message.properties.messageId));
      channel.ack(message);
      if (isDone(byTopic)) {
        clearTimeout(timer);
        clearInterval(recheck);
        resolve();
      }
    });
  });
  await connection.close();
  return { byTopic, ids };
}

async function brokerWith(connector: ConnectorInput): Promise<TestBroker> {
  const tb = await startBroker({ store: { type: 'level' }, connectors: [connector] });
  cleanups.push(() => tb.cleanup());
  return tb;
}

function statusOf(tb: TestBroker, name: string): ConnectorStatus {
  return tb.broker.serviceList.find((s) => s.name === name)!.status as ConnectorStatus;
}

const total = (acked: Map<string, number[]>): number => [...acked.values()].reduce((n, l) => n + l.length, 0);

describe.skipIf(!rabbit.isAvailable)('AMQP sink (RabbitMQ)', () => {
  it('20,000 QoS 1 messages reach a durable queue: none PUBACKed missing, order per topic', async () => {
    await declareQueue('big', 'big.*.telemetry');
    // No outage here, so no duplicate is expected: a silence between two confirms longer than the
    // sink's timeout would drop the link and resend a window. The timeout counts from the last
    // confirm now (it was a deadline per batch: 400 duplicates once at load 25 with the 10 s
    // default); 60 s stays as margin for a very loaded machine.
    const tb = await brokerWith({ name: 'rabbit', type: 'amqp', url: rabbit.url, sink: { topics: ['big/+/telemetry'], timeoutMs: 60_000 }, delivery: { batchSize: 100, inflight: 4, maxWaitMs: 10, ...fast } });
    const topics = ['big/a/telemetry', 'big/b/telemetry', 'big/c/telemetry', 'big/d/telemetry'];
    const publisher = await connectPublisher(tb.url, 'amqp-big');
    // The reader runs meanwhile (a short queue is RabbitMQ's fast path).
    let acked: Map<string, number[]> | undefined;
    const drained = drainQueue('big', (got) => acked !== undefined && missingAcked(acked, got).length === 0, 120_000);
    acked = await publishNumbered(publisher, { count: 20_000, topics, inflight: 100 });
    expect(total(acked)).toBe(20_000);
    const { byTopic, ids } = await drained;
    expect(missingAcked(acked, byTopic)).toEqual([]);
    for (const t of topics) expect(isOrderKept(byTopic.get(t)!), t).toBe(true);
    expect(ids.length - new Set(ids).size).toBe(0);
    expect(ids[0]).toMatch(/^rabbit:\d+$/);
    await expect.poll(() => tb.broker.admin.session('$connector/rabbit')!.inflightCount, { timeout: 10_000 }).toBe(0);
    await publisher.endAsync();
  }, 150_000);

  it('a quorum queue (and a classic v2 one) as the target needs nothing of the sink: every PUBACKed message read back, in order per topic', async () => {
    // The throughput options README "Connectors and queues" names are RabbitMQ-side only: the
    // sink's persistent, mandatory, confirmed publishes and its headers are the same for them.
    await declareQueue('quorum-target', 'qq.#', { 'x-queue-type': 'quorum' });
    await declareQueue('v2-target', 'qq.#', { 'x-queue-version': 2 });
    const tb = await brokerWith({ name: 'qq', type: 'amqp', url: rabbit.url, sink: { topics: ['qq/#'], timeoutMs: 60_000 }, delivery: { batchSize: 100, inflight: 4, maxWaitMs: 10, ...fast } });
    const topics = ['qq/a', 'qq/b'];
    const publisher = await connectPublisher(tb.url, 'amqp-qq');
    const acked = await publishNumbered(publisher, { count: 2_000, topics, inflight: 100 });
    expect(total(acked)).toBe(2_000);
    for (const queue of ['quorum-target', 'v2-target']) {
      const { byTopic, ids } = await drainQueue(queue, (got) => missingAcked(acked, got).length === 0, 60_000);
      expect(missingAcked(acked, byTopic), queue).toEqual([]);
      for (const t of topics) expect(isOrderKept(byTopic.get(t)!), `${queue} ${t}`).toBe(true);
      expect(ids.length - new Set(ids).size, queue).toBe(0);
    }
    await expect.poll(() => statusOf(tb, 'qq').delivered, { timeout: 10_000 }).toBe(2_000);
    expect(statusOf(tb, 'qq').retried).toBe(0);
    await publisher.endAsync();
  }, 120_000);

  it('server stopped then started, frozen (STOP/CONT) and killed -9 mid-stream: every PUBACKed message arrives', async () => {
    await declareQueue('outage', 'outage.#');
    const tb = await brokerWith({
      name: 'outage',
      type: 'amqp',
      url: rabbit.url,
      sink: { topics: ['outage/#'], timeoutMs: 2000 },
      delivery: { batchSize: 50, inflight: 2, maxWaitMs: 5, ...fast },
    });
    const publisher = await connectPublisher(tb.url, 'amqp-outage');
    const phase = async (from: number, count: number): Promise<Map<string, number[]>> =>
      publishNumbered(publisher, { count, topics: ['outage/x', 'outage/y'], inflight: 32, payload: (n) => String(from + n) }).then(
        (acked) => new Map([...acked].map(([t, ns]) => [t, ns.map((n) => from + n)])),
      );
    const all = new Map<string, number[]>([['outage/x', []], ['outage/y', []]]);
    const add = (acked: Map<string, number[]>): void => {
      for (const [t, ns] of acked) all.get(t)!.push(...ns);
    };
    // Refused: the server is down while messages are published; they wait, then drain.
    add(await phase(0, 500));
    await rabbit.server.stopProcess();
    add(await phase(500, 500));
    await expect.poll(() => statusOf(tb, 'outage').state, { timeout: 20_000 }).toBe('backing-off');
    await rabbit.server.start();
    // Hang: the server is frozen mid-stream; confirms stop coming, the timeout drops the link.
    const frozen = phase(1000, 1000);
    rabbit.server.pause();
    await new Promise((r) => setTimeout(r, 3000));
    rabbit.server.resume();
    add(await frozen);
    // Crash mid-batch: kill -9 while publishing, then a restart.
    const crashed = phase(2000, 1000);
    await new Promise((r) => setTimeout(r, 200));
    await rabbit.server.crash();
    add(await crashed);
    await rabbit.server.start();
    const { byTopic, ids } = await drainQueue('outage', (got) => missingAcked(all, got).length === 0, 90_000);
    expect(missingAcked(all, byTopic)).toEqual([]);
    expect(total(all)).toBe(3000);
    for (const t of ['outage/x', 'outage/y']) expect(isOrderKept(byTopic.get(t)!), t).toBe(true);
    const status = statusOf(tb, 'outage');
    process.stdout.write(`amqp outages: delivered ${status.delivered}, read ${ids.length}, duplicates ${ids.length - new Set(ids).size}, transient failures ${status.failed.transient}\n`);
    expect(status.failed.transient).toBeGreaterThan(0);
    await expect.poll(() => statusOf(tb, 'outage').state, { timeout: 20_000 }).toBe('running');
    await publisher.endAsync();
  }, 180_000);

  it('a slow but confirming RabbitMQ (bytes throttled to it) is not taken for a hung one: no resend, no duplicate', async () => {
    // About 110 bytes a message: a window of 3 batches of 20 takes about 4.5 s to pass the proxy,
    // one batch 1.5 s, under the 2 s timeout.
    // A deadline per batch (the old rule) timed out the later batches and resent the window,
    // again and again while the server stayed slow; measured from the last confirm, nothing is.
    await declareQueue('slow', 'slow.#');
    const proxy = await startThrottledProxy(rabbit.server.port, 1500);
    cleanups.push(() => proxy.close());
    const url = rabbit.url.replace(`:${rabbit.server.port}`, `:${proxy.port}`);
    const tb = await brokerWith({ name: 'slow', type: 'amqp', url, sink: { topics: ['slow/#'], timeoutMs: 2000 }, delivery: { batchSize: 20, inflight: 3, maxWaitMs: 50, ...fast } });
    const topics = ['slow/a', 'slow/b', 'slow/c'];
    const publisher = await connectPublisher(tb.url, 'amqp-slow');
    const acked = await publishNumbered(publisher, { count: 60, topics, inflight: 32 });
    const { byTopic, ids } = await drainQueue('slow', (got) => missingAcked(acked, got).length === 0, 60_000);
    expect(missingAcked(acked, byTopic)).toEqual([]);
    for (const t of topics) expect(isOrderKept(byTopic.get(t)!), t).toBe(true);
    const status = statusOf(tb, 'slow');
    process.stdout.write(`amqp slow confirms: ${proxy.bytesForwarded} bytes through the proxy, read ${ids.length}, retried ${status.retried}, transient failures ${status.failed.transient}\n`);
    expect(ids.length - new Set(ids).size).toBe(0);
    expect(status.failed.transient).toBe(0);
    expect(status.retried).toBe(0);
    await publisher.endAsync();
  }, 90_000);

  it('unroutable (mandatory) → dead-letter topic after its attempts; a missing exchange pauses until it exists', async () => {
    await declareQueue('routed', 'mixed.good');
    const tb = await brokerWith({ name: 'mixed', type: 'amqp', url: rabbit.url, sink: { topics: ['mixed/#'] }, delivery: { batchSize: 10, inflight: 1, maxWaitMs: 20, deadLetterAfterAttempts: 2, ...fast } });
    const { client: reader, collector } = await connectCollecting(tb.url, { clientId: 'amqp-dlq', protocolVersion: 5 });
    await reader.subscribeAsync('$dlq/mixed', { qos: 1 });
    const publisher = await connectPublisher(tb.url, 'amqp-mixed');
    for (let n = 0; n < 20; n++) await publisher.publishAsync(n === 7 ? 'mixed/nowhere' : 'mixed/good', String(n), { qos: 1 });
    const [dead] = await collector.waitFor(1, 30_000);
    expect(dead!.payload).toBe('7');
    expect(dead!.packet.properties?.userProperties).toMatchObject({ reason: 'data', topic: 'mixed/nowhere', attempts: '2' });
    const { byTopic } = await drainQueue('routed', (got) => (got.get('mixed/good')?.length ?? 0) >= 19, 30_000);
    expect(byTopic.get('mixed/good')).toEqual(Array.from({ length: 20 }, (_, n) => n).filter((n) => n !== 7));
    expect(statusOf(tb, 'mixed').deadLettered).toBe(1);

    // Configuration: the exchange does not exist (404 NOT_FOUND) → paused, messages kept.
    const cfg = await brokerWith({ name: 'noexchange', type: 'amqp', url: rabbit.url, sink: { topics: ['cfg/#'], exchange: 'late-exchange', routingKey: 'k' }, delivery: { batchSize: 10, inflight: 1, maxWaitMs: 5, ...fast } });
    const p2 = await connectPublisher(cfg.url, 'amqp-cfg');
    for (let n = 0; n < 30; n++) await p2.publishAsync('cfg/t', String(n), { qos: 1 });
    await expect.poll(() => statusOf(cfg, 'noexchange').state, { timeout: 20_000 }).toBe('paused');
    expect(statusOf(cfg, 'noexchange').pausedReason).toMatch(/NOT_FOUND|404/);
    expect(statusOf(cfg, 'noexchange').deadLettered).toBe(0);
    const connection = await amqpConnect();
    const channel = await connection.createChannel();
    await channel.assertExchange('late-exchange', 'direct', { durable: true });
    await channel.assertQueue('late', { durable: true });
    await channel.purgeQueue('late');
    await channel.bindQueue('late', 'late-exchange', 'k');
    await connection.close();
    const late = await drainQueue('late', (got) => (got.get('cfg/t')?.length ?? 0) >= 30, 30_000);
    expect(late.byTopic.get('cfg/t')).toEqual(Array.from({ length: 30 }, (_, n) => n));
    await expect.poll(() => statusOf(cfg, 'noexchange').state, { timeout: 10_000 }).toBe('running');
    await Promise.all([publisher.endAsync(), p2.endAsync()]);
  }, 120_000);

  it('MQTT 5 properties become AMQP ones: expiry → expiration, Response Topic → replyTo, Correlation Data → correlationId, user properties → headers', async () => {
    await declareQueue('props', 'props.#');
    const tb = await brokerWith({ name: 'props', type: 'amqp', url: rabbit.url, sink: { topics: ['props/#'] }, delivery: { batchSize: 10, inflight: 1, maxWaitMs: 5, ...fast } });
    const publisher = await connectPublisher(tb.url, 'amqp-props');
    await publisher.publishAsync('props/a', 'with', {
      qos: 1,
      properties: {
        messageExpiryInterval: 60,
        responseTopic: 'replies/a',
        correlationData: Buffer.from('corr-a'),
        contentType: 'text/plain',
        userProperties: { site: 'north', tags: ['x', 'y'], 'x-mqtt-topic': 'spoofed' },
      },
    });
    // Binary Correlation Data has no place in a short-string correlationId: left out.
    await publisher.publishAsync('props/b', 'binary', { qos: 1, properties: { correlationData: Buffer.from([0xff, 0xfe]) } });
    await publisher.publishAsync('props/c', 'plain', { qos: 1 });
    const got = await rabbit.withConnection(async (connection) => {
      const channel = await connection.createChannel();
      const messages: GetMessage[] = [];
      await expect
        .poll(
          async () => {
            const m = await channel.get('props', { noAck: true });
            if (m) messages.push(m);
            return messages.length;
          },
          { timeout: 20_000, interval: 50 },
        )
        .toBe(3);
      return messages;
    });
    const [a, b, c] = got.map((m) => m.properties);
    expect(Number(a!.expiration)).toBeGreaterThan(50_000);
    expect(Number(a!.expiration)).toBeLessThanOrEqual(60_000);
    expect(a!.replyTo).toBe('replies/a');
    expect(a!.correlationId).toBe('corr-a');
    expect(a!.contentType).toBe('text/plain');
    expect(a!.headers).toMatchObject({ site: 'north', tags: ['x', 'y'], 'x-mqtt-topic': 'props/a' });
    expect(b!.correlationId).toBeUndefined();
    expect(c!.expiration).toBeUndefined();
    expect(c!.replyTo).toBeUndefined();
    expect(Object.keys(c!.headers ?? {}).sort()).toEqual(['x-mqtt-qos', 'x-mqtt-topic']);
    await publisher.endAsync();
  }, 60_000);

  it('Midge SIGKILLed mid-stream and restarted: every PUBACKed message is in the queue', async () => {
    await declareQueue('midgecrash', 'midgecrash.#');
    const dir = await makeTempDir('midge-amqp-crash-');
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const configFile = path.join(dir, 'midge.json');
    await writeFile(configFile, JSON.stringify({ connectors: [{ name: 'crash', type: 'amqp', url: rabbit.url, sink: { topics: ['midgecrash/#'] }, delivery: { batchSize: 100, inflight: 2, maxWaitMs: 5, ...fast } }] }));
    const port = await freePort();
    const args = ['--port', String(port), '--data-dir', path.join(dir, 'data'), '--config', configFile, '--log-level', 'info'];
    const httpPort = await freePort();
    const env = { MIDGE_HTTP__ENABLED: 'true', MIDGE_HTTP__PORT: String(httpPort) };
    let broker: BrokerProcess = await spawnBroker(args, 20_000, env);
    cleanups.push(async () => {
      broker.child.kill('SIGKILL');
      await broker.exited;
    });
    const publisher = await connectPublisher(`mqtt://127.0.0.1:${port}`, 'amqp-crash-pub');
    publisher.on('error', () => undefined);
    let ackedSoFar = 0;
    let acked: Map<string, number[]> | undefined;
    await new Promise<void>((resolve) => {
      void publishNumbered(publisher, { count: 8000, topics: ['midgecrash/a', 'midgecrash/b'], inflight: 64, onAcked: () => ++ackedSoFar === 4000 && resolve() }).then((a) => (acked = a));
    });
    const before = await fetch(`http://127.0.0.1:${httpPort}/api/v1/bridges`).then((r) => r.text()).catch(() => '?');
    broker.child.kill('SIGKILL');
    await broker.exited;
    publisher.end(true);
    await expect.poll(() => acked !== undefined, { timeout: 20_000 }).toBe(true);
    const oldLogs = broker.logs;
    broker = await spawnBroker(args, 20_000, env);
    const { byTopic, ids } = await drainQueue('midgecrash', (got) => missingAcked(acked!, got).length === 0, 120_000).catch(async (error: unknown) => {
      const c2 = await amqpConnect();
      const ch2 = await c2.createChannel();
      const q = await ch2.checkQueue('midgecrash');
      await c2.close();
      const missing = missingAcked(acked!, (error as { byTopic: Map<string, number[]> }).byTopic);
      throw new Error(`${(error as Error).message}; missing ${missing.length}: ${missing.slice(0, 30).join(',')}; old log ${JSON.stringify(oldLogs.filter((l) => (l.level as number) >= 40).slice(-5))}; acked ${total(acked!)}; queue now ${q.messageCount}; before kill ${before}; status ${await fetch(`http://127.0.0.1:${httpPort}/api/v1/bridges`).then((r) => r.text())} ${await fetch(`http://127.0.0.1:${httpPort}/api/v1/clients/${encodeURIComponent('$connector/crash')}`).then((r) => r.text())}; broker log: ${JSON.stringify(broker.logs.filter((l) => l.connector !== undefined || (l.level as number) >= 40).slice(-10))}`);
    });
    expect(missingAcked(acked!, byTopic)).toEqual([]);
    for (const t of ['midgecrash/a', 'midgecrash/b']) expect(isOrderKept(byTopic.get(t)!), t).toBe(true);
    process.stdout.write(`amqp midge crash: acked ${total(acked!)}, read ${ids.length} (duplicates ${ids.length - new Set(ids).size})\n`);
  }, 240_000);
});
