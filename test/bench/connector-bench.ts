/**
 * `npm run bench -- connectors [--quick]`: msg/s of 64-byte QoS 1 messages from 10 publishers
 * (raw-socket load generator) through a Midge child process (level store) into a local backend,
 * counted when the backend has every message: the HTTP sink to an in-process node:http server and
 * the AMQP sink to a RabbitMQ node started for the run; batch 1 and batch 100; broker CPU per message
 * (and RabbitMQ's, and this process's: the load generator and the backend's reader share the 2 cores);
 * then RabbitMQ alone (amqplib from this process, the same queue and messages) as the ceiling.
 *
 * Two ways of counting an AMQP run, each reported: `read during` — a reader consumes and acks while
 * the clock runs, which stops when it has every message (what a backend with a live consumer
 * sees; the reader's CPU is this process's, its acks RabbitMQ's); `read after` — the clock stops when
 * every message is confirmed to the sink (the broker's delivered counter; RabbitMQ alone: its last
 * confirm), then the queue is read back and every message id counted, so none is missing, but
 * the reading is not timed. Queue types (batch 100 and RabbitMQ alone only): `classic` (the
 * default: what RabbitMQ 3.10 declares unless told otherwise), `classic-v2` (`x-queue-version: 2`,
 * the new index and store, opt-in in 3.10) and `quorum` (`x-queue-type: quorum`, a one-node Raft log).
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { freePort } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/temp.js';
import { RabbitServer, serverPackages } from '../helpers/servers.js';
import { cpuSeconds, spawnBroker, stopBroker } from './lib/broker-process.js';
import { LoadClient, PublishTemplate, publishWindowed } from './lib/load-client.js';

const PAYLOAD = Buffer.alloc(64, 0x61);

/** The RabbitMQ queue the AMQP runs fill (see the header). */
export type BenchQueueType = 'classic' | 'classic-v2' | 'quorum';
/** When the clock stops (see the header). */
export type BenchReader = 'during' | 'after';

const QUEUE_ARGUMENTS: Record<BenchQueueType, Record<string, unknown>> = {
  classic: {},
  'classic-v2': { 'x-queue-version': 2 },
  quorum: { 'x-queue-type': 'quorum' },
};

export interface ConnectorBenchResult {
  /** rabbitmq-alone: amqplib publishing straight to RabbitMQ (no Midge); batchSize is then its window of unconfirmed messages. */
  sink: 'http' | 'amqp' | 'rabbitmq-alone';
  batchSize: number;
  /** AMQP runs: the queue type, and whether the reader ran during the timed phase or after it. */
  queueType?: BenchQueueType;
  reader?: BenchReader;
  /** read-after runs: distinct message ids read back after the clock stopped (must be `messages`). */
  readBack?: number;
  messages: number;
  seconds: number;
  messagesPerSecond: number;
  brokerCpuMicrosecondsPerMessage: number;
  /** The backend's own CPU per message (RabbitMQ's node; the in-process HTTP server is not split out). */
  backendCpuMicrosecondsPerMessage?: number;
  /** This process: the 10 publishers and the backend's consumer. */
  benchCpuMicrosecondsPerMessage: number;
  atBackend: number;
}

/** Counts messages arriving at a backend (and their distinct ids, when it has them); resolves when `total` have. */
class Arrivals {
  count = 0;
  readonly ids = new Set<string>();
  private resolve: () => void = () => undefined;
  readonly all: Promise<void>;
  constructor(readonly total: number) {
    this.all = new Promise((r) => (this.resolve = r));
  }
  add(n: number, id?: string): void {
    this.count += n;
    if (id !== undefined) this.ids.add(id);
    if (this.count >= this.total) this.resolve();
  }
}

/** Resolves within 180 s, whether or not `done` did (a run that lost messages shows it in its count). */
async function atMost180s(done: Promise<unknown>): Promise<void> {
  let giveUp: NodeJS.Timeout | undefined;
  await Promise.race([done, new Promise((r) => (giveUp = setTimeout(r, 180_000)))]);
  clearTimeout(giveUp);
}

/**
 * Polls the broker's admin API until its connector `bench` reports `total` delivered (confirmed by
 * the backend). Every 50 ms: each poll costs both processes CPU (polling every 20 ms added ~20 µs
 * per message to the bench process in a slow loaded run), and 50 ms is ~2% of a 3 s run.
 */
async function confirmedByBroker(adminPort: number, total: number): Promise<number> {
  const deadline = Date.now() + 180_000;
  let delivered = 0;
  while (Date.now() < deadline) {
    const response = await fetch(`http://127.0.0.1:${adminPort}/api/v1/connectors/bench`);
    delivered = ((await response.json()) as { delivered: number }).delivered;
    if (delivered >= total) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return delivered;
}

/**
 * One sink run. `readAfter`: the clock stops when the broker has every message confirmed (its
 * admin API, polled once the publishers are done), and `readAfter()` then reads the backend.
 */
async function run(sink: ConnectorBenchResult['sink'], batchSize: number, total: number, connector: Record<string, unknown>, arrivals: Arrivals, backendPid?: number, readAfter?: () => Promise<void>): Promise<ConnectorBenchResult> {
  const dir = await makeTempDir('midge-bench-conn-');
  const configFile = path.join(dir, 'midge.json');
  const delivery = { batchSize, inflight: batchSize === 1 ? 32 : 4, maxWaitMs: batchSize === 1 ? 0 : 5, ordering: 'per-topic' };
  await writeFile(configFile, JSON.stringify({ connectors: [{ ...connector, delivery }] }));
  // BENCH_CPU_PROF_DIR=<dir>: the broker writes a V8 CPU profile per run there (a preload: NODE_OPTIONS may not carry --cpu-prof).
  const profileDir = process.env.BENCH_CPU_PROF_DIR;
  const env = profileDir
    ? { NODE_OPTIONS: `--require ${path.join(import.meta.dirname, 'connector-cpu-profile.cjs')}`, BENCH_BROKER_PROFILE_DIR: path.join(profileDir, `${sink}-batch${batchSize}`) }
    : {};
  const adminPort = readAfter ? await freePort() : undefined;
  if (adminPort !== undefined) Object.assign(env, { MIDGE_HTTP__ENABLED: 'true', MIDGE_HTTP__HOST: '127.0.0.1', MIDGE_HTTP__PORT: String(adminPort) });
  const broker = await spawnBroker(['--port', '0', '--data-dir', path.join(dir, 'data'), '--config', configFile], 30_000, env);
  try {
    const publishers = await Promise.all(Array.from({ length: 10 }, (_, i) => LoadClient.connect(broker.port, { clientId: `bench-conn-${i}` })));
    const cpuBefore = cpuSeconds(broker.child.pid!);
    const backendBefore = backendPid === undefined ? 0 : cpuSeconds(backendPid);
    const benchBefore = process.cpuUsage();
    const startedAt = process.hrtime.bigint();
    await Promise.all(publishers.map(({ client }, i) => publishWindowed(client, new PublishTemplate(`bench/${i}`, PAYLOAD, 1), 1, total / 10, 32)));
    const counted = adminPort === undefined ? (await atMost180s(arrivals.all), arrivals.count) : await confirmedByBroker(adminPort, total);
    const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    const cpu = cpuSeconds(broker.child.pid!) - cpuBefore;
    const backendCpu = backendPid === undefined ? undefined : cpuSeconds(backendPid) - backendBefore;
    const benchCpu = process.cpuUsage(benchBefore);
    const perMessage = (seconds: number): number => (seconds / Math.max(1, counted)) * 1e6;
    for (const { client } of publishers) client.destroy();
    if (readAfter) await readAfter();
    return { sink, batchSize, messages: total, seconds, messagesPerSecond: counted / seconds, brokerCpuMicrosecondsPerMessage: perMessage(cpu),
      ...(backendCpu === undefined ? {} : { backendCpuMicrosecondsPerMessage: perMessage(backendCpu) }),
      benchCpuMicrosecondsPerMessage: perMessage((benchCpu.user + benchCpu.system) / 1e6),
      atBackend: counted,
      ...(readAfter ? { readBack: arrivals.ids.size } : {}),
    };
  } finally {
    await stopBroker(broker);
    await rm(dir, { recursive: true, force: true });
  }
}

async function httpRun(batchSize: number, total: number): Promise<ConnectorBenchResult> {
  const arrivals = new Arrivals(total);
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const parsed = JSON.parse(body) as unknown;
      res.end('ok');
      arrivals.add(Array.isArray(parsed) ? parsed.length : 1);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest`;
  try {
    return await run('http', batchSize, total, { name: 'bench', type: 'http', url, sink: { topics: ['bench/#'], bodyMode: batchSize === 1 ? 'each' : 'batch' } }, arrivals);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/**
 * A durable queue of `type` bound to amq.topic `bench.#` (what users would have), emptied, and
 * its reader counting arrivals and their message ids — from the start, or from `startReading()`
 * (read-after runs); `close` deletes it. It must go: a queue left bound from an earlier run
 * would get a copy of every later run's messages (twice the work for RabbitMQ, with no reader).
 */
async function openBenchQueue(rabbit: RabbitServer, queue: string, type: BenchQueueType, arrivals: Arrivals, reader: BenchReader): Promise<{ startReading(): Promise<void>; close(): Promise<void> }> {
  const amqp = await import('amqplib');
  const connection = await amqp.connect(rabbit.url);
  const channel = await connection.createChannel();
  await channel.assertQueue(queue, { durable: true, arguments: QUEUE_ARGUMENTS[type] });
  await channel.purgeQueue(queue);
  await channel.bindQueue(queue, 'amq.topic', 'bench.#');
  await channel.prefetch(1000);
  const startReading = async (): Promise<void> => {
    await channel.consume(queue, (message) => {
      if (!message) return;
      channel.ack(message);
      arrivals.add(1, message.properties.messageId as string | undefined);
    });
  };
  if (reader === 'during') await startReading();
  return {
    startReading,
    async close() {
      await channel.deleteQueue(queue);
      await connection.close();
    },
  };
}

async function amqpRun(rabbit: RabbitServer, batchSize: number, total: number, type: BenchQueueType, reader: BenchReader): Promise<ConnectorBenchResult> {
  const arrivals = new Arrivals(total);
  const queue = await openBenchQueue(rabbit, `bench-${batchSize}-${type}-${reader}`, type, arrivals, reader);
  const readAfter = reader === 'after' ? () => queue.startReading().then(() => atMost180s(arrivals.all)) : undefined;
  try {
    const result = await run('amqp', batchSize, total, { name: 'bench', type: 'amqp', url: rabbit.url, sink: { topics: ['bench/#'] } }, arrivals, rabbit.pid, readAfter);
    return { ...result, queueType: type, reader };
  } finally {
    await queue.close();
  }
}

/**
 * RabbitMQ by itself, for scale: the same queue and reader, the same messages (persistent,
 * mandatory, the sink's properties and headers) published by amqplib from this process on one
 * confirm channel with up to `window` unconfirmed — what the AMQP sink can at best approach here,
 * since it adds Midge's own CPU on the same cores.
 */
async function rabbitAloneRun(rabbit: RabbitServer, window: number, total: number, type: BenchQueueType, readerMode: BenchReader): Promise<ConnectorBenchResult> {
  const amqp = await import('amqplib');
  const arrivals = new Arrivals(total);
  const reader = await openBenchQueue(rabbit, `bench-alone-${window}-${type}-${readerMode}`, type, arrivals, readerMode);
  const connection = await amqp.connect(rabbit.url);
  try {
    const channel = await connection.createConfirmChannel();
    const rabbitBefore = cpuSeconds(rabbit.pid);
    const benchBefore = process.cpuUsage();
    const startedAt = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      let sent = 0;
      let unconfirmed = 0;
      let confirmed = 0;
      const pump = (): void => {
        while (unconfirmed < window && sent < total) {
          const i = sent++;
          unconfirmed++;
          const topic = `bench/${i % 10}`;
          const headers = { 'x-mqtt-topic': topic, 'x-mqtt-qos': 1 };
          channel.publish('amq.topic', `bench.${i % 10}`, PAYLOAD, { persistent: true, mandatory: true, messageId: `bench:${i + 1}`, timestamp: Math.floor(Date.now() / 1000), headers }, (error) => {
            if (error) return reject(error as Error);
            unconfirmed--;
            confirmed++;
            if (readerMode === 'after' && confirmed === total) resolve();
            pump();
          });
        }
      };
      pump();
      if (readerMode === 'during') void atMost180s(arrivals.all).then(resolve);
    });
    const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    const rabbitCpu = cpuSeconds(rabbit.pid) - rabbitBefore;
    const benchCpu = process.cpuUsage(benchBefore);
    const counted = readerMode === 'after' ? total : arrivals.count;
    const perMessage = (cpu: number): number => (cpu / Math.max(1, counted)) * 1e6;
    if (readerMode === 'after') await reader.startReading().then(() => atMost180s(arrivals.all));
    return {
      sink: 'rabbitmq-alone',
      batchSize: window,
      queueType: type,
      reader: readerMode,
      messages: total,
      seconds,
      messagesPerSecond: counted / seconds,
      brokerCpuMicrosecondsPerMessage: 0,
      backendCpuMicrosecondsPerMessage: perMessage(rabbitCpu),
      benchCpuMicrosecondsPerMessage: perMessage((benchCpu.user + benchCpu.system) / 1e6),
      atBackend: counted,
      ...(readerMode === 'after' ? { readBack: arrivals.ids.size } : {}),
    };
  } finally {
    await connection.close();
    await reader.close();
  }
}

/** The AMQP runs: batch 1 with the classic queue read during; batch 100 (and RabbitMQ alone) with every queue type and reader. */
function amqpCases(): Array<{ type: BenchQueueType; reader: BenchReader }> {
  // BENCH_CONNECTOR_QUEUES=classic,quorum and BENCH_CONNECTOR_READERS=after: only those.
  const types = (process.env.BENCH_CONNECTOR_QUEUES ?? 'classic,classic-v2,quorum').split(',') as BenchQueueType[];
  const readers = (process.env.BENCH_CONNECTOR_READERS ?? 'during,after').split(',') as BenchReader[];
  const cases: Array<{ type: BenchQueueType; reader: BenchReader }> = [];
  // The classic queue read during is the default row (comparable with earlier sessions'); the other
  // queue types are read after only (what they cost RabbitMQ to take and confirm).
  for (const type of types) for (const reader of readers) if (type === 'classic' || reader === 'after') cases.push({ type, reader });
  return cases;
}

function describe(r: ConnectorBenchResult): string {
  if (r.queueType === undefined) return '';
  const readBack = r.readBack === undefined ? '' : `, read back after: ${r.readBack}/${r.messages} ids`;
  return ` [${r.queueType} queue, read ${r.reader}${readBack}]`;
}

export async function runConnectorBench(isQuick: boolean, log: (line: string) => void): Promise<ConnectorBenchResult[]> {
  // BENCH_CONNECTOR_MESSAGES=20000: another size (divisible by the 10 publishers).
  const total = Number(process.env.BENCH_CONNECTOR_MESSAGES ?? (isQuick ? 5_000 : 50_000));
  const results: ConnectorBenchResult[] = [];
  const show = (r: ConnectorBenchResult): void => {
    results.push(r);
    if (r.sink === 'rabbitmq-alone') {
      log(`  RabbitMQ alone, window ${r.batchSize}: ${Math.round(r.messagesPerSecond).toLocaleString('en')} msg/s at the backend (${r.atBackend}/${r.messages} in ${r.seconds.toFixed(1)} s), RabbitMQ ${r.backendCpuMicrosecondsPerMessage!.toFixed(0)} µs CPU/msg, bench process ${r.benchCpuMicrosecondsPerMessage.toFixed(0)} µs${describe(r)}`);
      return;
    }
    log(`  ${r.sink} batch ${r.batchSize}: ${Math.round(r.messagesPerSecond).toLocaleString('en')} msg/s at the backend (${r.atBackend}/${r.messages} in ${r.seconds.toFixed(1)} s), broker ${r.brokerCpuMicrosecondsPerMessage.toFixed(0)} µs CPU/msg${r.backendCpuMicrosecondsPerMessage === undefined ? '' : `, RabbitMQ ${r.backendCpuMicrosecondsPerMessage.toFixed(0)} µs`}, bench process ${r.benchCpuMicrosecondsPerMessage.toFixed(0)} µs${describe(r)}`);
  };
  // BENCH_CONNECTOR_SINKS=http or amqp, BENCH_CONNECTOR_BATCHES=100: only those (e.g. while profiling one).
  const sinks = (process.env.BENCH_CONNECTOR_SINKS ?? 'http,amqp').split(',');
  const batches = (process.env.BENCH_CONNECTOR_BATCHES ?? '1,100').split(',').map(Number);
  if (sinks.includes('http')) for (const batch of batches) show(await httpRun(batch, total));
  if (!sinks.includes('amqp')) return results;
  if (serverPackages.rabbitmq.isAvailable) {
    const rabbit = await RabbitServer.create();
    const cases = amqpCases();
    try {
      for (const batch of batches) for (const { type, reader } of batch === 1 ? cases.slice(0, 1) : cases) show(await amqpRun(rabbit, batch, total, type, reader));
      // The ceiling: the sink's default window (batchSize 100 × inflight 4), and a deeper one for the default row.
      if (process.env.BENCH_CONNECTOR_RABBIT_ALONE !== '0') {
        for (const { type, reader } of cases) {
          for (const window of type === 'classic' && reader === 'during' ? [400, 2000] : [400]) show(await rabbitAloneRun(rabbit, window, total, type, reader));
        }
      }
    } finally {
      await rabbit.destroy();
    }
  } else log(`  amqp: skipped (needs the Debian package ${serverPackages.rabbitmq.debianPackage})`);
  return results;
}
