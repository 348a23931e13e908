/**
 * `npm run bench -- connectors [--quick]`: msg/s of 64-byte QoS 1 messages from 10 publishers
 * (raw-socket load generator) through a Midge child process (level store) into a local backend,
 * counted when the backend has every message: the HTTP sink to an in-process node:http server and
 * the AMQP sink to a RabbitMQ node started for the run; batch 1 and batch 100; broker CPU per message.
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { makeTempDir } from '../helpers/temp.js';
import { RabbitServer, serverPackages } from '../helpers/servers.js';
import { cpuSeconds, spawnBroker, stopBroker } from './lib/broker-process.js';
import { LoadClient, PublishTemplate, publishWindowed } from './lib/load-client.js';

const PAYLOAD = Buffer.alloc(64, 0x61);

export interface ConnectorBenchResult {
  sink: 'http' | 'amqp';
  batchSize: number;
  messages: number;
  seconds: number;
  messagesPerSecond: number;
  brokerCpuMicrosecondsPerMessage: number;
  atBackend: number;
}

/** Counts messages arriving at a backend; resolves when `total` have. */
class Arrivals {
  count = 0;
  private resolve: () => void = () => undefined;
  readonly all: Promise<void>;
  constructor(readonly total: number) {
    this.all = new Promise((r) => (this.resolve = r));
  }
  add(n: number): void {
    this.count += n;
    if (this.count >= this.total) this.resolve();
  }
}

async function run(sink: 'http' | 'amqp', batchSize: number, total: number, connector: Record<string, unknown>, arrivals: Arrivals): Promise<ConnectorBenchResult> {
  const dir = await makeTempDir('midge-bench-conn-');
  const configFile = path.join(dir, 'midge.json');
  const delivery = { batchSize, inflight: batchSize === 1 ? 32 : 4, maxWaitMs: batchSize === 1 ? 0 : 5, ordering: 'per-topic' };
  await writeFile(configFile, JSON.stringify({ connectors: [{ ...connector, delivery }] }));
  // BENCH_CPU_PROF_DIR=<dir>: the broker writes a V8 CPU profile per run there (a preload: NODE_OPTIONS may not carry --cpu-prof).
  const profileDir = process.env.BENCH_CPU_PROF_DIR;
  const env = profileDir
    ? { NODE_OPTIONS: `--require ${path.join(import.meta.dirname, 'connector-cpu-profile.cjs')}`, BENCH_BROKER_PROFILE_DIR: path.join(profileDir, `${sink}-batch${batchSize}`) }
    : {};
  const broker = await spawnBroker(['--port', '0', '--data-dir', path.join(dir, 'data'), '--config', configFile], 30_000, env);
  try {
    const publishers = await Promise.all(Array.from({ length: 10 }, (_, i) => LoadClient.connect(broker.port, { clientId: `bench-conn-${i}` })));
    const cpuBefore = cpuSeconds(broker.child.pid!);
    const startedAt = process.hrtime.bigint();
    await Promise.all(publishers.map(({ client }, i) => publishWindowed(client, new PublishTemplate(`bench/${i}`, PAYLOAD, 1), 1, total / 10, 32)));
    let giveUp: NodeJS.Timeout | undefined;
    await Promise.race([arrivals.all, new Promise((r) => (giveUp = setTimeout(r, 180_000)))]);
    clearTimeout(giveUp);
    const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    const cpu = cpuSeconds(broker.child.pid!) - cpuBefore;
    for (const { client } of publishers) client.destroy();
    return { sink, batchSize, messages: total, seconds, messagesPerSecond: arrivals.count / seconds, brokerCpuMicrosecondsPerMessage: (cpu / Math.max(1, arrivals.count)) * 1e6, atBackend: arrivals.count };
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

async function amqpRun(rabbit: RabbitServer, batchSize: number, total: number): Promise<ConnectorBenchResult> {
  const amqp = await import('amqplib');
  const connection = await amqp.connect(rabbit.url);
  const channel = await connection.createChannel();
  const queue = `bench-${batchSize}`;
  await channel.assertQueue(queue, { durable: true });
  await channel.purgeQueue(queue);
  await channel.bindQueue(queue, 'amq.topic', 'bench.#');
  await channel.prefetch(1000);
  const arrivals = new Arrivals(total);
  await channel.consume(queue, (message) => {
    if (!message) return;
    channel.ack(message);
    arrivals.add(1);
  });
  try {
    return await run('amqp', batchSize, total, { name: 'bench', type: 'amqp', url: rabbit.url, sink: { topics: ['bench/#'] } }, arrivals);
  } finally {
    await connection.close();
  }
}

export async function runConnectorBench(isQuick: boolean, log: (line: string) => void): Promise<ConnectorBenchResult[]> {
  const total = isQuick ? 5_000 : 50_000;
  const results: ConnectorBenchResult[] = [];
  const show = (r: ConnectorBenchResult): void => {
    results.push(r);
    log(`  ${r.sink} batch ${r.batchSize}: ${Math.round(r.messagesPerSecond).toLocaleString('en')} msg/s at the backend (${r.atBackend}/${r.messages} in ${r.seconds.toFixed(1)} s), broker ${r.brokerCpuMicrosecondsPerMessage.toFixed(0)} µs CPU/msg`);
  };
  // BENCH_CONNECTOR_SINKS=http or amqp, BENCH_CONNECTOR_BATCHES=100: only those (e.g. while profiling one).
  const sinks = (process.env.BENCH_CONNECTOR_SINKS ?? 'http,amqp').split(',');
  const batches = (process.env.BENCH_CONNECTOR_BATCHES ?? '1,100').split(',').map(Number);
  if (sinks.includes('http')) for (const batch of batches) show(await httpRun(batch, total));
  if (!sinks.includes('amqp')) return results;
  if (serverPackages.rabbitmq.isAvailable) {
    const rabbit = await RabbitServer.create();
    try {
      for (const batch of batches) show(await amqpRun(rabbit, batch, total));
    } finally {
      await rabbit.destroy();
    }
  } else log(`  amqp: skipped (needs the Debian package ${serverPackages.rabbitmq.debianPackage})`);
  return results;
}
