/**
 * The Redis Streams source against a real Redis (one server for this file): a consumer group read
 * with XREADGROUP, entries XACKed only after Midge committed their commands, the consumer's own
 * pending entries read again at start. The scenarios are in source-scenarios.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { SourceStatus } from '../../src/connectors/index.js';
import { closeAllClients, connectClient, connectCollecting } from '../helpers/clients.js';
import { startBroker } from '../helpers/broker.js';
import { announceSkip } from '../helpers/peers.js';
import { RedisServer, serverPackages } from '../helpers/servers.js';
import { defineSourceScenarios, MAPPING, type SourceDriver } from './source-scenarios.js';

const available = serverPackages.redis.isAvailable;
announceSkip(available, 'the Redis Streams source tests', serverPackages.redis.debianPackage);

let server: RedisServer;
let redis: Redis;
const cleanups: Array<() => Promise<unknown>> = [];
beforeAll(async () => {
  if (!available) return;
  server = await RedisServer.create();
  const { Redis } = await import('ioredis');
  redis = new Redis(server.url);
  redis.on('error', () => undefined); // the outage test stops the server under it; it reconnects
}, 120_000);
afterEach(closeAllClients);
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  redis?.disconnect();
  await server?.destroy();
}, 60_000);

const GROUP = 'midge';

const driver: SourceDriver = {
  connector: (name, stream, source = {}) => ({ name, type: 'redis-stream', url: server.url, source: { stream, group: GROUP, blockMs: 200, ...MAPPING, ...source } }),
  prepare: async (stream) => {
    await redis.del(stream);
  },
  produce: async (stream, commands) => {
    const pipeline = redis.pipeline();
    for (const c of commands) pipeline.xadd(stream, '*', 'payload', typeof c === 'string' ? c : JSON.stringify(c));
    await pipeline.exec();
  },
  // Pending in the group plus entries not yet read by it.
  remaining: async (stream) => {
    const groups = (await redis.call('XINFO', 'GROUPS', stream)) as unknown[][];
    const group = groups.map((g) => Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [String(g[2 * i]), g[2 * i + 1]]))).find((g) => g.name === GROUP);
    if (!group) return redis.xlen(stream);
    return Number(group.pending) + Number(group.lag ?? 0);
  },
  flagsRedelivery: true,
  pendingNow: async (stream) => Number(((await redis.call('XPENDING', stream, GROUP)) as unknown[])[0]),
  smallWindow: { batchSize: 20 },
  get server() {
    return server;
  },
};

describe.skipIf(!available)('Redis Streams source', () => {
  defineSourceScenarios(() => driver, cleanups);

  it('at start, XAUTOCLAIMs what another consumer left pending and delivers it', async () => {
    await driver.prepare('claim');
    await redis.call('XGROUP', 'CREATE', 'claim', GROUP, '0', 'MKSTREAM');
    await driver.produce('claim', [0, 1, 2].map((n) => ({ device: 'dev-claim', n })));
    // A consumer that read them and died.
    await redis.call('XREADGROUP', 'GROUP', GROUP, 'gone-consumer', 'COUNT', '10', 'STREAMS', 'claim', '>');
    const tb = await startBroker({ store: { type: 'level' } });
    cleanups.push(() => tb.cleanup());
    const device = await connectClient(tb.url, { clientId: 'dev-claim', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    await device.subscribeAsync('cmd/dev-claim', { qos: 1 });
    await device.endAsync();
    await tb.stop();
    const restarted = await startBroker({ store: { type: 'level' }, dataDir: tb.dataDir, connectors: [driver.connector('claim', 'claim', { claimIdleMs: 0 })] });
    cleanups.push(() => restarted.cleanup());
    const status = (): SourceStatus => restarted.broker.serviceList.find((s) => s.name === 'claim/source')!.status as SourceStatus;
    await expect.poll(() => status().acked, { timeout: 20_000 }).toBe(3);
    expect(status().redelivered).toBe(3);
    expect(await driver.remaining('claim')).toBe(0);
    const { collector } = await connectCollecting(restarted.url, { clientId: 'dev-claim', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    expect((await collector.waitFor(3, 20_000)).map((m) => m.payload)).toEqual(['0', '1', '2']);
  }, 60_000);
});
