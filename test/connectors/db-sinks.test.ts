/**
 * The PostgreSQL and Redis Streams sinks against real servers started by this file: 20,000
 * numbered QoS 1 messages all stored (PostgreSQL: exactly once with ON CONFLICT on the stable id),
 * in order per topic; the server stopped and started, frozen (STOP/CONT) and (PostgreSQL) killed
 * -9 mid-stream — every PUBACKed message still arrives; a constraint violation goes to the
 * dead-letter topic while good rows flow; a missing table pauses the connector until it exists.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from 'pg';
import type { ConnectorStatus } from '../../src/connectors/index.js';
import type { CreateBrokerOptions } from '../../src/index.js';
import { closeAllClients, connectCollecting } from '../helpers/clients.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { announceSkip } from '../helpers/peers.js';
import { PostgresServer, RedisServer, serverPackages } from '../helpers/servers.js';
import { connectPublisher, isOrderKept, missingAcked, publishNumbered } from './helpers.js';

const hasPostgres = serverPackages.postgres.isAvailable;
const hasRedis = serverPackages.redis.isAvailable;
announceSkip(hasPostgres, 'the PostgreSQL sink tests', serverPackages.postgres.debianPackage);
announceSkip(hasRedis, 'the Redis Streams sink tests', serverPackages.redis.debianPackage);

let postgres: PostgresServer | undefined;
let redis: RedisServer | undefined;
const cleanups: Array<() => Promise<unknown>> = [];
beforeAll(async () => {
  [postgres, redis] = await Promise.all([hasPostgres ? PostgresServer.create() : undefined, hasRedis ? RedisServer.create() : undefined]);
}, 120_000);
afterEach(closeAllClients);
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  await Promise.all([postgres?.destroy(), redis?.destroy()]);
}, 60_000);

type ConnectorInput = NonNullable<CreateBrokerOptions['connectors']>[number];
const fast = { retryMinMs: 50, retryMaxMs: 500 };
const total = (acked: Map<string, number[]>): number => [...acked.values()].reduce((n, l) => n + l.length, 0);

async function brokerWith(connector: ConnectorInput): Promise<TestBroker> {
  const tb = await startBroker({ store: { type: 'level' }, connectors: [connector] });
  cleanups.push(() => tb.cleanup());
  return tb;
}

function statusOf(tb: TestBroker, name: string): ConnectorStatus {
  return tb.broker.serviceList.find((s) => s.name === name)!.status as ConnectorStatus;
}

async function sql(text: string, values: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  const { default: pg } = await import('pg');
  const client: Client = new pg.Client({ connectionString: postgres!.url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as Array<Record<string, unknown>>;
  } finally {
    await client.end();
  }
}

/** Rows of `table` as numbers per topic, in insertion (serial id) order. */
async function rowsByTopic(table: string): Promise<{ byTopic: Map<string, number[]>; count: number }> {
  const rows = await sql(`SELECT topic, body FROM ${table} ORDER BY id`);
  const byTopic = new Map<string, number[]>();
  for (const row of rows) {
    const list = byTopic.get(row.topic as string) ?? [];
    list.push(Number(row.body));
    byTopic.set(row.topic as string, list);
  }
  return { byTopic, count: rows.length };
}

const INSERT = 'INSERT INTO TABLE (msg_id, topic, body) VALUES (${msgid}, ${topic}, ${payload}) ON CONFLICT (msg_id) DO NOTHING';

async function createTable(table: string): Promise<void> {
  await sql(`DROP TABLE IF EXISTS ${table}`);
  await sql(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, msg_id text UNIQUE NOT NULL, topic text NOT NULL, body text NOT NULL CHECK (body <> 'poison'))`);
}

describe.skipIf(!hasPostgres)('PostgreSQL sink', () => {
  it('20,000 QoS 1 messages: every PUBACKed one stored exactly once (ON CONFLICT), in order per topic', async () => {
    await createTable('big');
    const tb = await brokerWith({ name: 'pg', type: 'postgres', url: postgres!.url, sink: { topics: ['pg/#'], sql: INSERT.replace('TABLE', 'big') }, delivery: { batchSize: 100, inflight: 4, maxWaitMs: 10, ...fast } });
    const topics = ['pg/a', 'pg/b', 'pg/c', 'pg/d'];
    const publisher = await connectPublisher(tb.url, 'pg-big');
    const acked = await publishNumbered(publisher, { count: 20_000, topics, inflight: 100 });
    expect(total(acked)).toBe(20_000);
    await expect.poll(async () => missingAcked(acked, (await rowsByTopic('big')).byTopic).length, { timeout: 90_000, interval: 500 }).toBe(0);
    const { byTopic, count } = await rowsByTopic('big');
    expect(count).toBe(20_000); // no duplicates
    for (const t of topics) expect(isOrderKept(byTopic.get(t)!), t).toBe(true);
    await publisher.endAsync();
  }, 150_000);

  it('server stopped then started, frozen (STOP/CONT) and killed -9 mid-stream: every PUBACKed message stored once', async () => {
    await createTable('outage');
    const tb = await brokerWith({ name: 'pgout', type: 'postgres', url: postgres!.url, sink: { topics: ['pgout/#'], sql: INSERT.replace('TABLE', 'outage'), timeoutMs: 2000 }, delivery: { batchSize: 50, inflight: 2, maxWaitMs: 5, ...fast } });
    const publisher = await connectPublisher(tb.url, 'pg-outage');
    const all = new Map<string, number[]>([['pgout/x', []], ['pgout/y', []]]);
    const phase = async (from: number, count: number): Promise<void> => {
      const acked = await publishNumbered(publisher, { count, topics: ['pgout/x', 'pgout/y'], inflight: 32, payload: (n) => String(from + n) });
      for (const [t, ns] of acked) all.get(t)!.push(...ns.map((n) => from + n));
    };
    await phase(0, 500);
    await postgres!.stopProcess();
    await phase(500, 500);
    await expect.poll(() => statusOf(tb, 'pgout').state, { timeout: 20_000 }).toBe('backing-off');
    await postgres!.start();
    const frozen = phase(1000, 1000);
    postgres!.pause();
    await new Promise((r) => setTimeout(r, 3000));
    postgres!.resume();
    await frozen;
    const crashed = phase(2000, 1000);
    await new Promise((r) => setTimeout(r, 200));
    await postgres!.crash();
    await crashed;
    await postgres!.start();
    expect(total(all)).toBe(3000);
    await expect.poll(async () => missingAcked(all, (await rowsByTopic('outage')).byTopic).length, { timeout: 60_000, interval: 500 }).toBe(0);
    const { byTopic, count } = await rowsByTopic('outage');
    expect(count).toBe(3000);
    for (const t of ['pgout/x', 'pgout/y']) expect(isOrderKept(byTopic.get(t)!), t).toBe(true);
    await publisher.endAsync();
  }, 150_000);

  it('a constraint violation → dead-letter topic while good rows flow; a missing table pauses until it exists', async () => {
    await createTable('checked');
    const tb = await brokerWith({ name: 'pgbad', type: 'postgres', url: postgres!.url, sink: { topics: ['pgbad/#'], sql: INSERT.replace('TABLE', 'checked') }, delivery: { batchSize: 10, inflight: 1, maxWaitMs: 20, deadLetterAfterAttempts: 2, ...fast } });
    const { client: reader, collector } = await connectCollecting(tb.url, { clientId: 'pg-dlq', protocolVersion: 5 });
    await reader.subscribeAsync('$dlq/pgbad', { qos: 1 });
    const publisher = await connectPublisher(tb.url, 'pg-bad');
    for (let n = 0; n < 20; n++) await publisher.publishAsync('pgbad/t', n === 5 ? 'poison' : String(n), { qos: 1 });
    const [dead] = await collector.waitFor(1, 30_000);
    expect(dead!.payload).toBe('poison');
    expect((dead!.packet.properties?.userProperties as Record<string, string>).error).toMatch(/^postgres 23514/);
    await expect.poll(async () => (await rowsByTopic('checked')).count, { timeout: 20_000 }).toBe(19);
    expect((await rowsByTopic('checked')).byTopic.get('pgbad/t')).toEqual(Array.from({ length: 20 }, (_, n) => n).filter((n) => n !== 5));

    await sql('DROP TABLE IF EXISTS late');
    const cfg = await brokerWith({ name: 'pglate', type: 'postgres', url: postgres!.url, sink: { topics: ['pglate/#'], sql: INSERT.replace('TABLE', 'late') }, delivery: { batchSize: 10, inflight: 1, maxWaitMs: 5, ...fast } });
    const p2 = await connectPublisher(cfg.url, 'pg-late');
    for (let n = 0; n < 30; n++) await p2.publishAsync('pglate/t', String(n), { qos: 1 });
    await expect.poll(() => statusOf(cfg, 'pglate').state, { timeout: 20_000 }).toBe('paused');
    expect(statusOf(cfg, 'pglate').pausedReason).toMatch(/42P01/);
    await createTable('late');
    await expect.poll(async () => (await rowsByTopic('late')).count, { timeout: 20_000 }).toBe(30);
    expect((await rowsByTopic('late')).byTopic.get('pglate/t')).toEqual(Array.from({ length: 30 }, (_, n) => n));
    await Promise.all([publisher.endAsync(), p2.endAsync()]);
  }, 90_000);
});

describe.skipIf(!hasRedis)('Redis Streams sink', () => {
  async function readStream(key: string): Promise<{ byTopic: Map<string, number[]>; ids: string[] }> {
    const { Redis } = await import('ioredis');
    const client = new Redis(redis!.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    try {
      const entries = await client.xrange(key, '-', '+');
      const byTopic = new Map<string, number[]>();
      const ids: string[] = [];
      for (const [, fields] of entries) {
        const f = Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i]!, fields[2 * i + 1]!]));
        const list = byTopic.get(f.topic!) ?? [];
        list.push(Number(f.payload));
        byTopic.set(f.topic!, list);
        ids.push(f.id!);
      }
      return { byTopic, ids };
    } finally {
      client.disconnect();
    }
  }

  it('20,000 QoS 1 messages: every PUBACKed one in the stream (XADD with field templates), in order per topic', async () => {
    const tb = await brokerWith({ name: 'rs', type: 'redis-stream', url: redis!.url, sink: { topics: ['rs/#'], stream: 'telemetry' }, delivery: { batchSize: 100, inflight: 4, maxWaitMs: 10, ...fast } });
    const topics = ['rs/a', 'rs/b', 'rs/c', 'rs/d'];
    const publisher = await connectPublisher(tb.url, 'rs-big');
    const acked = await publishNumbered(publisher, { count: 20_000, topics, inflight: 100 });
    expect(total(acked)).toBe(20_000);
    await expect.poll(async () => missingAcked(acked, (await readStream('telemetry')).byTopic).length, { timeout: 90_000, interval: 500 }).toBe(0);
    const { byTopic, ids } = await readStream('telemetry');
    for (const t of topics) expect(isOrderKept(byTopic.get(t)!), t).toBe(true);
    expect(ids[0]).toMatch(/^rs:\d+$/);
    process.stdout.write(`redis 20k: entries ${ids.length}, duplicates ${ids.length - new Set(ids).size}\n`);
    await publisher.endAsync();
  }, 150_000);

  it('server stopped then started and frozen (STOP/CONT) mid-stream: every PUBACKed message arrives', async () => {
    const tb = await brokerWith({ name: 'rsout', type: 'redis-stream', url: redis!.url, sink: { topics: ['rsout/#'], stream: '${topic|dots}', timeoutMs: 2000 }, delivery: { batchSize: 50, inflight: 2, maxWaitMs: 5, ...fast } });
    const publisher = await connectPublisher(tb.url, 'rs-outage');
    const all = new Map<string, number[]>([['rsout/x', []]]);
    const phase = async (from: number, count: number): Promise<void> => {
      const acked = await publishNumbered(publisher, { count, topics: ['rsout/x'], inflight: 32, payload: (n) => String(from + n) });
      for (const [t, ns] of acked) all.get(t)!.push(...ns.map((n) => from + n));
    };
    await phase(0, 500);
    await redis!.stopProcess();
    await phase(500, 500);
    await expect.poll(() => statusOf(tb, 'rsout').state, { timeout: 20_000 }).toBe('backing-off');
    await redis!.start();
    const frozen = phase(1000, 1000);
    redis!.pause();
    await new Promise((r) => setTimeout(r, 3000));
    redis!.resume();
    await frozen;
    expect(total(all)).toBe(2000);
    await expect.poll(async () => missingAcked(all, (await readStream('rsout.x')).byTopic).length, { timeout: 60_000, interval: 500 }).toBe(0);
    expect(isOrderKept((await readStream('rsout.x')).byTopic.get('rsout/x')!)).toBe(true);
    await publisher.endAsync();
  }, 120_000);
});
