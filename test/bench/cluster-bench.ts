/**
 * `npm run bench -- cluster`: Midge on a 3-server JetStream engine (R3), one node vs three.
 *  qos1-standalone  the same on Midge without a cluster (LevelDB store): the single node compared with
 *  qos1-cross-node  10 publishers x 32 in flight -> 1 persistent QoS 1 subscriber; 1 node: all on
 *                   n1; 3 nodes: publishers on n1, subscriber on n2 (every message crosses nodes)
 *  qos0-fan-in      10 publishers blasting QoS 0 -> 1 subscriber, same placement
 *  drain-after-move N QoS 1 queued for an offline subscriber of n1 (published on n3); it returns
 *                   on n2: time until all N arrived
 * Reported: msg/s, Midge CPU-seconds per message (all nodes), engine CPU-seconds per message, and
 * the CPU per message of each process (publisher node, subscriber node, each nats-server).
 * BENCH_CLUSTER_CPU_PROF=<dir> makes each node write a CPU profile there (`node --cpu-prof`).
 * One machine: the engine and the nodes share its cores, so absolute rates are below one node.
 */
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { cpuSeconds } from './lib/broker-process.js';
import { spawnBroker } from '../helpers/process.js';
import { makeTempDir } from '../helpers/temp.js';
import { LoadClient, PublishTemplate, blast, publishWindowed } from './lib/load-client.js';
import { startEngine, type Engine } from '../cluster/engine.js';
import { startNode, type MidgeNode } from '../cluster/nodes.js';

const PAYLOAD = Buffer.alloc(64, 0x61);
const ENV: NodeJS.ProcessEnv = {
  MIDGE_LIMITS__MAX_QUEUED_MESSAGES: '10000000',
  MIDGE_LIMITS__MAX_QUEUED_BYTES: String(4 * 1024 ** 3),
  MIDGE_TEST_CLUSTER_LOG: 'warn',
};

export interface ClusterBenchRow {
  scenario: string;
  nodes: number;
  messages: number;
  seconds: number;
  messagesPerSecond: number;
  midgeCpuMicrosPerMessage: number;
  engineCpuMicrosPerMessage: number;
  /** µs CPU per delivered message of each process: the nodes by id, each engine server. */
  cpuMicrosPerMessageByProcess: Record<string, number>;
  /** Engine writes (stream sequence numbers used) per delivered message, by stream. */
  engineWritesPerMessage: Record<string, number>;
  /** The bench's own CPU per message (publishers and subscriber). */
  generatorCpuMicrosPerMessage: number;
  delivered: number;
}

function cpuOf(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

async function measure(
  scenario: string,
  engine: Engine | undefined,
  nodes: MidgeNode[],
  messages: number,
  run: () => Promise<number>,
): Promise<ClusterBenchRow> {
  // One process counted once (the one-node rows pass the same node as publisher and subscriber side).
  const midgePids = [...new Set(nodes.map((n) => n.process.child.pid!))];
  const enginePids = engine ? engine.servers.map((s) => s.child!.pid!) : [];
  const processes = new Map<string, number>();
  for (const node of nodes) processes.set(node.id, node.process.child.pid!);
  for (const server of engine?.servers ?? []) processes.set(server.name, server.child!.pid!);
  const before = new Map([...processes].map(([name, pid]) => [name, cpuSeconds(pid)]));
  const midgeBefore = cpuOf(midgePids);
  const engineBefore = cpuOf(enginePids);
  const seqBefore = await streamSequences(engine);
  const ownBefore = process.cpuUsage();
  const startedAt = process.hrtime.bigint();
  const delivered = await run();
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  const own = process.cpuUsage(ownBefore);
  const seqAfter = await streamSequences(engine);
  const perMessage = (cpu: number): number => (cpu / Math.max(1, delivered)) * 1e6;
  return {
    cpuMicrosPerMessageByProcess: Object.fromEntries([...processes].map(([name, pid]) => [name, perMessage(cpuSeconds(pid) - before.get(name)!)])),
    engineWritesPerMessage: Object.fromEntries([...seqAfter].map(([name, seq]) => [name, (seq - (seqBefore.get(name) ?? 0)) / Math.max(1, delivered)])),
    generatorCpuMicrosPerMessage: perMessage((own.user + own.system) / 1e6),
    scenario,
    nodes: new Set(nodes.map((n) => n.id)).size,
    messages,
    seconds,
    messagesPerSecond: delivered / seconds,
    midgeCpuMicrosPerMessage: ((cpuOf(midgePids) - midgeBefore) / Math.max(1, delivered)) * 1e6,
    engineCpuMicrosPerMessage: ((cpuOf(enginePids) - engineBefore) / Math.max(1, delivered)) * 1e6,
    delivered,
  };
}

/** Each stream's last sequence (from the first engine server's monitoring port). */
async function streamSequences(engine: Engine | undefined): Promise<Map<string, number>> {
  const sequences = new Map<string, number>();
  for (const server of engine?.servers ?? []) {
    try {
      const response = await fetch(`http://127.0.0.1:${server.httpPort}/jsz?streams=true`, { signal: AbortSignal.timeout(5000) });
      const body = (await response.json()) as { account_details?: Array<{ stream_detail?: Array<{ name: string; state: { last_seq: number } }> }> };
      for (const account of body.account_details ?? []) for (const stream of account.stream_detail ?? []) sequences.set(stream.name, Math.max(sequences.get(stream.name) ?? 0, stream.state.last_seq));
    } catch {
      /* that server is busy: the others say it */
    }
  }
  return sequences;
}

async function waitCount(get: () => number, total: number, timeoutMs = 120_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (get() < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return get();
}

/**
 * Until the subscriber got a probe published on `pubNode`: the route reached it (route
 * propagation lag varies with load; a fixed wait of 500 ms made the cross-node QoS 0 run
 * deliver nothing). Returns the subscriber's count to measure from.
 */
async function routeReady(pubNode: MidgeNode, sub: LoadClient, topic: string, tag: string): Promise<number> {
  const { client: probe } = await LoadClient.connect(pubNode.port, { clientId: `cb-probe-${tag}-${Math.random().toString(36).slice(2)}` });
  const template = new PublishTemplate(topic, PAYLOAD, 1);
  const deadline = Date.now() + 60_000;
  while (sub.received === 0) {
    if (Date.now() > deadline) throw new Error(`bench: no route to the subscriber for ${topic} within 60 s`);
    await publishWindowed(probe, template, 1, 1, 1);
    await new Promise((r) => setTimeout(r, 50));
  }
  probe.destroy();
  // Probes still on their way count as well: settle before the baseline is taken.
  await new Promise((r) => setTimeout(r, 200));
  return sub.received;
}

async function qos1(engine: Engine | undefined, pubNode: MidgeNode, subNode: MidgeNode, total: number, tag: string): Promise<ClusterBenchRow> {
  const { client: sub } = await LoadClient.connect(subNode.port, { clientId: `cb-sub-${tag}`, clean: false });
  await sub.subscribe(`cb/${tag}/#`, 1);
  const base = await routeReady(pubNode, sub, `cb/${tag}/probe`, tag);
  const publishers = await Promise.all(Array.from({ length: 10 }, (_, i) => LoadClient.connect(pubNode.port, { clientId: `cb-pub-${tag}-${i}` })));
  const row = await measure(`qos1 10x32->1`, engine, [pubNode, subNode], total, async () => {
    const per = Math.floor(total / 10);
    await Promise.all(publishers.map(({ client }, i) => publishWindowed(client, new PublishTemplate(`cb/${tag}/${i}`, PAYLOAD, 1), 1, per, 32)));
    return (await waitCount(() => sub.received - base, per * 10));
  });
  for (const { client } of publishers) client.destroy();
  sub.destroy();
  return row;
}

async function qos0(engine: Engine, pubNode: MidgeNode, subNode: MidgeNode, total: number, tag: string): Promise<ClusterBenchRow> {
  const { client: sub } = await LoadClient.connect(subNode.port, { clientId: `cb0-sub-${tag}` });
  await sub.subscribe(`cb0/${tag}/#`, 0);
  const base = await routeReady(pubNode, sub, `cb0/${tag}/probe`, `0${tag}`);
  const publishers = await Promise.all(Array.from({ length: 10 }, (_, i) => LoadClient.connect(pubNode.port, { clientId: `cb0-pub-${tag}-${i}` })));
  const row = await measure(`qos0 fan-in 10->1`, engine, [pubNode, subNode], total, async () => {
    const per = Math.floor(total / 10);
    await Promise.all(publishers.map(({ client }, i) => blast(client, new PublishTemplate(`cb0/${tag}/${i}`, PAYLOAD, 0), per)));
    // QoS 0 may be dropped under overload: count what arrived until all did or nothing more
    // came for 2 s. (A fixed 300 ms quiet window ended before the first cross-node message
    // arrived on a loaded machine: the run reported 0 delivered.)
    const expected = base + per * 10;
    let last = sub.received;
    let quietSince = Date.now();
    while (sub.received < expected && Date.now() - quietSince < 2000) {
      await new Promise((r) => setTimeout(r, 50));
      if (sub.received !== last) {
        last = sub.received;
        quietSince = Date.now();
      }
    }
    return sub.received - base;
  });
  for (const { client } of publishers) client.destroy();
  sub.destroy();
  return row;
}

async function drainAfterMove(engine: Engine, first: MidgeNode, pubNode: MidgeNode, second: MidgeNode, total: number, tag: string): Promise<ClusterBenchRow> {
  const { client: s1 } = await LoadClient.connect(first.port, { clientId: `cbd-sub-${tag}`, clean: false });
  await s1.subscribe(`cbd/${tag}/#`, 1);
  await routeReady(pubNode, s1, `cbd/${tag}/probe`, `d${tag}`);
  await s1.disconnect();
  const { client: pub } = await LoadClient.connect(pubNode.port, { clientId: `cbd-pub-${tag}` });
  await publishWindowed(pub, new PublishTemplate(`cbd/${tag}/m`, PAYLOAD, 1), 1, total, 64);
  pub.destroy();
  let delivered = 0;
  const row = await measure('drain after a node move', engine, [first, pubNode, second], total, async () => {
    const { client: back } = await LoadClient.connect(second.port, { clientId: `cbd-sub-${tag}`, clean: false, onPublish: () => void delivered++ });
    const got = await waitCount(() => delivered, total);
    back.destroy();
    return got;
  });
  return row;
}

/**
 * The same QoS 1 run on Midge without a cluster (the durable LevelDB store, as `npm start`): the
 * "single node" the cluster's CPU per message is compared with.
 */
async function qos1Standalone(total: number, profileEnv: NodeJS.ProcessEnv): Promise<ClusterBenchRow> {
  const dataDir = await makeTempDir('midge-bench-standalone-');
  const broker = await spawnBroker(['--port', '0', '--data-dir', dataDir, '--log-level', 'info'], 60_000, { ...ENV, ...profileEnv });
  const node = { id: 'standalone', process: broker, port: broker.port } as MidgeNode;
  try {
    const row = await qos1(undefined, node, node, total, 'standalone');
    return { ...row, scenario: 'qos1 10x32->1, no cluster (level store)', nodes: 0 };
  } finally {
    process.kill(broker.child.pid!, 'SIGTERM');
    await broker.exited;
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function runClusterBench(isQuick: boolean, log: (line: string) => void): Promise<ClusterBenchRow[]> {
  const n = Number(process.env.BENCH_CLUSTER_MESSAGES) || (isQuick ? 20_000 : 100_000);
  const drainN = isQuick ? 5_000 : 20_000;
  const rows: ClusterBenchRow[] = [];
  const wantedFirst = process.env.BENCH_CLUSTER_SCENARIOS?.split(',');
  const profileDirFirst = process.env.BENCH_CLUSTER_CPU_PROF;
  if (!wantedFirst || wantedFirst.includes('qos1-standalone')) {
    const profileEnv = profileDirFirst ? { NODE_OPTIONS: `--require ${path.join(import.meta.dirname, 'connector-cpu-profile.cjs')}`, BENCH_BROKER_PROFILE_DIR: profileDirFirst } : {};
    rows.push(await qos1Standalone(n, profileEnv));
  }
  const engine = await startEngine();
  try {
    // BENCH_CLUSTER_CPU_PROF=<dir>: each node writes a V8 CPU profile there when it stops
    // (NODE_OPTIONS may not carry --cpu-prof: the connectors bench's inspector preload does it).
    const profileDir = process.env.BENCH_CLUSTER_CPU_PROF;
    const env = profileDir ? { ...ENV, NODE_OPTIONS: `--require ${path.join(import.meta.dirname, 'connector-cpu-profile.cjs')}`, BENCH_BROKER_PROFILE_DIR: profileDir } : ENV;
    const nodes = await Promise.all(['b1', 'b2', 'b3'].map((id) => startNode(engine, id, env)));
    const [b1, b2, b3] = nodes as [MidgeNode, MidgeNode, MidgeNode];
    // BENCH_CLUSTER_SCENARIOS=qos1-cross,…: only those (e.g. to profile one of them).
    const wanted = process.env.BENCH_CLUSTER_SCENARIOS?.split(',');
    const wants = (name: string): boolean => !wanted || wanted.includes(name);
    try {
      if (wants('qos1-one')) rows.push(await qos1(engine, b1, b1, n, 'one'));
      if (wants('qos1-cross')) rows.push(await qos1(engine, b1, b2, n, 'cross'));
      if (wants('qos0-one')) rows.push(await qos0(engine, b1, b1, n, 'one'));
      if (wants('qos0-cross')) rows.push(await qos0(engine, b1, b2, n, 'cross'));
      if (wants('drain')) rows.push(await drainAfterMove(engine, b1, b3, b2, drainN, 'move'));
    } finally {
      await Promise.all(nodes.map((node) => node.stop()));
    }
  } finally {
    await engine.stop();
  }
  const fmt = (v: number): string => v.toLocaleString('en', { maximumFractionDigits: 0 });
  log('\ncluster (3 nats-server R3 + Midge nodes on this one machine; figures on a shared, loaded box):');
  log('| scenario | nodes | messages | delivered | msg/s | Midge µs CPU/msg | engine µs CPU/msg |');
  log('|---|---|---|---|---|---|---|');
  for (const r of rows) log(`| ${r.scenario} | ${r.nodes} | ${fmt(r.messages)} | ${fmt(r.delivered)} | ${fmt(r.messagesPerSecond)} | ${fmt(r.midgeCpuMicrosPerMessage)} | ${fmt(r.engineCpuMicrosPerMessage)} |`);
  log('\nCPU per delivered message by process (µs; the bench itself is the load generator):');
  for (const r of rows) {
    const parts = Object.entries(r.cpuMicrosPerMessageByProcess).map(([name, micros]) => `${name} ${micros.toFixed(1)}`);
    const writes = Object.entries(r.engineWritesPerMessage).filter(([, n]) => n > 0).map(([name, n]) => `${name} ${n.toFixed(3)}`);
    log(`- ${r.scenario}, ${r.nodes} node(s): ${parts.join(', ')}; generator ${r.generatorCpuMicrosPerMessage.toFixed(1)}; engine writes per message: ${writes.join(', ')}`);
  }
  return rows;
}
