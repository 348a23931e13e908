/**
 * `npm run bench -- cluster`: Midge on a 3-server JetStream engine (R3), one node vs three.
 *  qos1-cross-node  10 publishers x 32 in flight -> 1 persistent QoS 1 subscriber; 1 node: all on
 *                   n1; 3 nodes: publishers on n1, subscriber on n2 (every message crosses nodes)
 *  qos0-fan-in      10 publishers blasting QoS 0 -> 1 subscriber, same placement
 *  drain-after-move N QoS 1 queued for an offline subscriber of n1 (published on n3); it returns
 *                   on n2: time until all N arrived
 * Reported: msg/s, Midge CPU-seconds per message (all nodes), engine CPU-seconds per message.
 * One machine: the engine and the nodes share its cores, so absolute rates are below one node.
 */
import { cpuSeconds } from './lib/broker-process.js';
import { LoadClient, PublishTemplate, blast, publishWindowed } from './lib/load-client.js';
import { startEngine, type Engine } from '../cluster/engine.js';
import { startNode, type MidgeNode } from '../cluster/nodes.js';

const PAYLOAD = Buffer.alloc(64, 0x61);
const ENV = { MIDGE_LIMITS__MAX_QUEUED_MESSAGES: '10000000', MIDGE_LIMITS__MAX_QUEUED_BYTES: String(4 * 1024 ** 3), MIDGE_TEST_CLUSTER_LOG: 'warn' };

export interface ClusterBenchRow {
  scenario: string;
  nodes: number;
  messages: number;
  seconds: number;
  messagesPerSecond: number;
  midgeCpuMicrosPerMessage: number;
  engineCpuMicrosPerMessage: number;
  delivered: number;
}

function cpuOf(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
}

async function measure(
  scenario: string,
  engine: Engine,
  nodes: MidgeNode[],
  messages: number,
  run: () => Promise<number>,
): Promise<ClusterBenchRow> {
  const midgePids = nodes.map((n) => n.process.child.pid!);
  const enginePids = engine.servers.map((s) => s.child!.pid!);
  const midgeBefore = cpuOf(midgePids);
  const engineBefore = cpuOf(enginePids);
  const startedAt = process.hrtime.bigint();
  const delivered = await run();
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  return {
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

async function waitCount(get: () => number, total: number, timeoutMs = 120_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (get() < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return get();
}

async function qos1(engine: Engine, pubNode: MidgeNode, subNode: MidgeNode, total: number, tag: string): Promise<ClusterBenchRow> {
  const { client: sub } = await LoadClient.connect(subNode.port, { clientId: `cb-sub-${tag}`, clean: false });
  await sub.subscribe(`cb/${tag}/#`, 1);
  await new Promise((r) => setTimeout(r, 500)); // route propagation
  const publishers = await Promise.all(Array.from({ length: 10 }, (_, i) => LoadClient.connect(pubNode.port, { clientId: `cb-pub-${tag}-${i}` })));
  const row = await measure(`qos1 10x32->1`, engine, [pubNode, subNode], total, async () => {
    const per = Math.floor(total / 10);
    await Promise.all(publishers.map(({ client }, i) => publishWindowed(client, new PublishTemplate(`cb/${tag}/${i}`, PAYLOAD, 1), 1, per, 32)));
    return waitCount(() => sub.received, per * 10);
  });
  for (const { client } of publishers) client.destroy();
  sub.destroy();
  return row;
}

async function qos0(engine: Engine, pubNode: MidgeNode, subNode: MidgeNode, total: number, tag: string): Promise<ClusterBenchRow> {
  const { client: sub } = await LoadClient.connect(subNode.port, { clientId: `cb0-sub-${tag}` });
  await sub.subscribe(`cb0/${tag}/#`, 0);
  await new Promise((r) => setTimeout(r, 500));
  const publishers = await Promise.all(Array.from({ length: 10 }, (_, i) => LoadClient.connect(pubNode.port, { clientId: `cb0-pub-${tag}-${i}` })));
  const row = await measure(`qos0 fan-in 10->1`, engine, [pubNode, subNode], total, async () => {
    const per = Math.floor(total / 10);
    await Promise.all(publishers.map(({ client }, i) => blast(client, new PublishTemplate(`cb0/${tag}/${i}`, PAYLOAD, 0), per)));
    // QoS 0 may be dropped under overload: count what arrived within a grace period.
    let last = -1;
    while (sub.received !== last) {
      last = sub.received;
      await new Promise((r) => setTimeout(r, 300));
    }
    return sub.received;
  });
  for (const { client } of publishers) client.destroy();
  sub.destroy();
  return row;
}

async function drainAfterMove(engine: Engine, first: MidgeNode, pubNode: MidgeNode, second: MidgeNode, total: number, tag: string): Promise<ClusterBenchRow> {
  const { client: s1 } = await LoadClient.connect(first.port, { clientId: `cbd-sub-${tag}`, clean: false });
  await s1.subscribe(`cbd/${tag}`, 1);
  await s1.disconnect();
  await new Promise((r) => setTimeout(r, 500));
  const { client: pub } = await LoadClient.connect(pubNode.port, { clientId: `cbd-pub-${tag}` });
  await publishWindowed(pub, new PublishTemplate(`cbd/${tag}`, PAYLOAD, 1), 1, total, 64);
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

export async function runClusterBench(isQuick: boolean, log: (line: string) => void): Promise<ClusterBenchRow[]> {
  const n = isQuick ? 20_000 : 100_000;
  const drainN = isQuick ? 5_000 : 20_000;
  const engine = await startEngine();
  const rows: ClusterBenchRow[] = [];
  try {
    const nodes = await Promise.all(['b1', 'b2', 'b3'].map((id) => startNode(engine, id, ENV)));
    const [b1, b2, b3] = nodes as [MidgeNode, MidgeNode, MidgeNode];
    try {
      rows.push(await qos1(engine, b1, b1, n, 'one'));
      rows.push(await qos1(engine, b1, b2, n, 'cross'));
      rows.push(await qos0(engine, b1, b1, n, 'one'));
      rows.push(await qos0(engine, b1, b2, n, 'cross'));
      rows.push(await drainAfterMove(engine, b1, b3, b2, drainN, 'move'));
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
  return rows;
}
