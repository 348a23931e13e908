/**
 * Durable-store benchmarks (brokers as child processes, raw-socket load generator):
 *  qos1-throughput  10 publishers x 32 in flight -> 1 persistent QoS 1 subscriber, level vs memory
 *  offline-drain    N QoS 1 messages queued for an offline persistent session, then it returns
 *  restart          start-up time with N queued + N retained messages in the level store
 */
import { rm } from 'node:fs/promises';
import { makeTempDir } from '../helpers/temp.js';
import { cpuSeconds, spawnBroker, stopBroker, type BrokerProcess } from './lib/broker-process.js';
import { PacketType } from './lib/frame-reader.js';
import { LoadClient, PublishTemplate, publishWindowed } from './lib/load-client.js';

const PAYLOAD = Buffer.alloc(64, 0x61);
const BENCH_ENV = { MIDGE_LIMITS__MAX_QUEUED_MESSAGES: '10000000', MIDGE_LIMITS__MAX_QUEUED_BYTES: String(4 * 1024 ** 3) };

export interface ThroughputResult {
  store: string;
  messages: number;
  seconds: number;
  messagesPerSecond: number;
  brokerCpuSeconds: number;
  messagesPerCpuSecond: number;
  delivered: number;
}

async function withBroker<T>(store: 'level' | 'memory', fn: (broker: BrokerProcess, dir: string) => Promise<T>, dir?: string): Promise<T> {
  const dataDir = dir ?? (await makeTempDir('midge-bench-'));
  // Publishers are not slowed by a slow subscriber (their acks only wait for the disk), so the
  // subscriber's queue may hold most of a run: lift the Pi-sized default bound for the benchmark.
  const broker = await spawnBroker(['--port', '0', '--store', store, '--data-dir', dataDir, '--max-connections', '20000'], 30_000, BENCH_ENV);
  try {
    return await fn(broker, dataDir);
  } finally {
    await stopBroker(broker);
    if (!dir) await rm(dataDir, { recursive: true, force: true });
  }
}

export async function qos1Throughput(store: 'level' | 'memory', total: number): Promise<ThroughputResult> {
  return withBroker(store, async (broker) => {
    const { client: sub } = await LoadClient.connect(broker.port, { clientId: 'bench-sub', clean: false });
    await sub.subscribe('bench/#', 1);
    let delivered = 0;
    let resolveAll: () => void = () => undefined;
    const allDelivered = new Promise<void>((r) => (resolveAll = r));
    sub.onPublish = () => {
      if (++delivered === total) resolveAll();
    };
    const publishers = await Promise.all(Array.from({ length: 10 }, (_, i) => LoadClient.connect(broker.port, { clientId: `bench-pub-${i}` })));
    const cpuBefore = cpuSeconds(broker.child.pid!);
    const startedAt = process.hrtime.bigint();
    const perPublisher = Math.floor(total / 10);
    await Promise.all(publishers.map(({ client }, i) => publishWindowed(client, new PublishTemplate(`bench/${i}`, PAYLOAD, 1), 1, perPublisher, 32)));
    // Never hang: a loss shows as delivered < messages in the result.
    let giveUp: NodeJS.Timeout | undefined;
    await Promise.race([allDelivered, new Promise((r) => (giveUp = setTimeout(r, 120_000)))]);
    clearTimeout(giveUp); // else it holds the process open for two minutes after the last scenario
    const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    const cpu = cpuSeconds(broker.child.pid!) - cpuBefore;
    for (const { client } of publishers) client.destroy();
    sub.destroy();
    return { store, messages: total, seconds, messagesPerSecond: total / seconds, brokerCpuSeconds: cpu, messagesPerCpuSecond: total / cpu, delivered };
  });
}

export interface DrainResult {
  store: string;
  messages: number;
  publishSeconds: number;
  drainSeconds: number;
  drainPerSecond: number;
}

export async function offlineDrain(store: 'level' | 'memory', total: number): Promise<DrainResult> {
  return withBroker(store, async (broker) => {
    const first = await LoadClient.connect(broker.port, { clientId: 'drain-sub', clean: false });
    await first.client.subscribe('drain/#', 1);
    await first.client.disconnect();
    const { client: pub } = await LoadClient.connect(broker.port, { clientId: 'drain-pub' });
    const publishStart = process.hrtime.bigint();
    await publishWindowed(pub, new PublishTemplate('drain/t', PAYLOAD, 1), 1, total, 64);
    const publishSeconds = Number(process.hrtime.bigint() - publishStart) / 1e9;
    pub.destroy();
    let delivered = 0;
    const drainStart = process.hrtime.bigint();
    let drained: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (drained = resolve));
    const { client: back } = await LoadClient.connect(broker.port, {
      clientId: 'drain-sub',
      clean: false,
      onPublish: () => {
        if (++delivered === total) drained();
      },
    });
    await done;
    back.destroy();
    const drainSeconds = Number(process.hrtime.bigint() - drainStart) / 1e9;
    return { store, messages: total, publishSeconds, drainSeconds, drainPerSecond: total / drainSeconds };
  });
}

export interface RestartResult {
  queued: number;
  retained: number;
  msToListening: number;
  msToFirstConnack: number;
  queuedDelivered: number;
  retainedDelivered: number;
}

export async function restartTime(queued: number, retained: number): Promise<RestartResult> {
  const dir = await makeTempDir('midge-bench-restart-');
  try {
    await withBroker(
      'level',
      async (broker) => {
        const sub = await LoadClient.connect(broker.port, { clientId: 'restart-sub', clean: false });
        await sub.client.subscribe('q/#', 1);
        await sub.client.disconnect();
        const { client: pub } = await LoadClient.connect(broker.port, { clientId: 'restart-pub' });
        await publishWindowed(pub, new PublishTemplate('q/t', PAYLOAD, 1), 1, queued, 64);
        // Retained: one topic each; the template's topic is patched per message, so encode each.
        for (let i = 0; i < retained; i += 500) {
          for (let j = i; j < Math.min(retained, i + 500); j++) {
            const t = new PublishTemplate(`ret/${j}`, PAYLOAD, 1);
            const bytes = t.withPacketId((j % 60000) + 1);
            bytes[0] = bytes[0]! | 0x01; // RETAIN
            pub.socket.write(bytes);
          }
          await waitForAcks(pub, Math.min(500, retained - i));
        }
        pub.destroy();
      },
      dir,
    );
    const startedAt = Date.now();
    const broker = await spawnBroker(['--port', '0', '--store', 'level', '--data-dir', dir], 60_000, BENCH_ENV);
    const msToListening = Date.now() - startedAt;
    try {
      const { client: probe } = await LoadClient.connect(broker.port, { clientId: 'restart-probe' });
      const msToFirstConnack = Date.now() - startedAt;
      let retainedDelivered = 0;
      probe.onPublish = () => retainedDelivered++;
      await probe.subscribe('ret/#', 0);
      let queuedDelivered = 0;
      const back = await LoadClient.connect(broker.port, { clientId: 'restart-sub', clean: false, onPublish: () => queuedDelivered++ });
      const deadline = Date.now() + 60_000;
      while ((queuedDelivered < queued || retainedDelivered < retained) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      probe.destroy();
      back.client.destroy();
      return { queued, retained, msToListening, msToFirstConnack, queuedDelivered, retainedDelivered };
    } finally {
      await stopBroker(broker);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function waitForAcks(client: LoadClient, count: number): Promise<void> {
  return new Promise((resolve) => {
    let acked = 0;
    client.onAck = (type) => {
      if (type === PacketType.PUBACK && ++acked === count) resolve();
    };
  });
}
