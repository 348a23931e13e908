/** Midge cluster nodes as child processes (the built CLI) on one engine, for the cluster tests. */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { closeAllClients } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { startEngine, type Engine } from './engine.js';

export interface MidgeNode {
  id: string;
  process: BrokerProcess;
  port: number;
  httpPort: number;
  url: string;
  /** GET on the admin API. */
  get(path: string): Promise<{ status: number; body: unknown }>;
  /** SIGKILL by PID. */
  kill(): Promise<void>;
  /** SIGTERM by PID and wait for exit. */
  stop(): Promise<void>;
}

export async function startNode(engine: Engine, id: string, env: NodeJS.ProcessEnv = {}, port?: number): Promise<MidgeNode> {
  const httpPort = await freePort();
  const mqttPort = port ?? 0;
  const process_ = await spawnBroker(['--port', String(mqttPort), '--log-level', process.env.MIDGE_TEST_CLUSTER_LOG ?? 'info'], 60_000, {
    MIDGE_CLUSTER__NODE_ID: id,
    MIDGE_CLUSTER__SERVERS: JSON.stringify(engine.urls),
    MIDGE_CLUSTER__REPLICAS: '3',
    MIDGE_HTTP__ENABLED: 'true',
    MIDGE_HTTP__PORT: String(httpPort),
    MIDGE_SYS__INTERVAL: '0',
    ...env,
  });
  const get = async (path: string): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(`http://127.0.0.1:${httpPort}${path}`, { signal: AbortSignal.timeout(5000) });
    const text = await response.text();
    try {
      return { status: response.status, body: JSON.parse(text) };
    } catch {
      return { status: response.status, body: text };
    }
  };
  const node: MidgeNode = {
    id,
    process: process_,
    port: process_.port,
    httpPort,
    url: `mqtt://127.0.0.1:${process_.port}`,
    get,
    async kill() {
      if (process_.child.exitCode !== null || process_.child.signalCode !== null) return;
      process.kill(process_.child.pid!, 'SIGKILL');
      await process_.exited;
    },
    async stop() {
      if (process_.child.exitCode !== null || process_.child.signalCode !== null) return;
      process.kill(process_.child.pid!, 'SIGTERM');
      await process_.exited;
    },
  };
  await waitUntil(`${id} /ready`, async () => (await get('/ready')).status === 200);
  return node;
}

export async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface ClusterStatus {
  routes: { local: number; cluster: number };
  forwardedByNode: Record<string, number>;
  nodes: Array<{ node: string; state: string }>;
}

export async function clusterStatus(node: MidgeNode): Promise<ClusterStatus> {
  return (await node.get('/api/v1/cluster')).body as ClusterStatus;
}

/** Waits until `node`'s route view holds at least `count` entries (route propagation lag). */
export async function waitForRoutes(node: MidgeNode, count: number): Promise<void> {
  await waitUntil(`${node.id} sees ${count} routes`, async () => (await clusterStatus(node)).routes.cluster >= count);
}

/**
 * When MIDGE_TEST_CLUSTER_DUMP names a directory, every node's log lines are written there
 * (`<label>-<node>.log`), to read a failing run's story after the fact.
 */
export async function dumpLogs(nodes: MidgeNode[], label: string): Promise<void> {
  const dir = process.env.MIDGE_TEST_CLUSTER_DUMP;
  if (!dir) return;
  const { mkdir, writeFile } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  for (const node of nodes) {
    await writeFile(`${dir}/${label}-${node.id}.log`, node.process.logs.map((l) => JSON.stringify(l)).join('\n') + '\n' + node.process.stderr());
  }
}

/** An engine and three nodes n1–n3 shared by a file's tests (its hooks registered by `useThreeNodes`). */
export interface ThreeNodes {
  engine: Engine;
  /** A test that restarts a node puts the new one in its place. */
  nodes: MidgeNode[];
}

/**
 * The shared setup of the cluster test files: one engine and three nodes started at once (they
 * race to create the engine objects, which must be idempotent), stopped after the file; after
 * each test the clients close and, with `dumpEachTest`, the nodes' logs go to
 * MIDGE_TEST_CLUSTER_DUMP (see dumpLogs).
 */
export function useThreeNodes(options: { dumpEachTest?: boolean; env?: NodeJS.ProcessEnv } = {}): ThreeNodes {
  const cluster = { nodes: [] } as unknown as ThreeNodes;
  beforeAll(async () => {
    cluster.engine = await startEngine();
    cluster.nodes = await Promise.all(['n1', 'n2', 'n3'].map((id) => startNode(cluster.engine, id, options.env)));
  }, 90_000);
  afterAll(async () => {
    await Promise.all(cluster.nodes.map((n) => n.stop()));
    await cluster.engine?.stop();
  }, 30_000);
  afterEach(async (context) => {
    if (options.dumpEachTest) await dumpLogs(cluster.nodes, context.task.name.slice(0, 24).replace(/[^\w]+/g, '-'));
    await closeAllClients();
  });
  return cluster;
}
