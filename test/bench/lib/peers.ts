/**
 * The brokers a comparison runs: Midge (memory and level stores), Mosquitto (Debian's
 * /usr/sbin/mosquitto, when installed) and Aedes (npm devDependency, in-memory persistence) —
 * each a child process on a free loopback port, stopped by PID. All are started the same way and
 * count as ready at their first CONNACK, so start-up time and idle RSS compare like for like.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../../helpers/temp.js';
import { ROOT } from '../../helpers/process.js';
import { freePort } from '../../helpers/ports.js';
import { cpuSeconds, rssBytes } from './broker-process.js';
import { hasExited, spawnChild, stopChild } from './children.js';
import { LoadClient } from './load-client.js';
import { pause } from './wait.js';

/** What `npm start` runs (the bundle), or another build's CLI for before/after figures. */
const MIDGE_ENTRY = process.env.BENCH_MIDGE_CLI ?? path.join(ROOT, 'dist/midge.mjs');

export type PeerKind = 'midge-memory' | 'midge-level' | 'mosquitto' | 'aedes';

export const PEER_LABELS: Record<PeerKind, string> = {
  'midge-memory': 'Midge memory',
  'midge-level': 'Midge level',
  mosquitto: 'Mosquitto',
  aedes: 'Aedes',
};

export interface RunningPeer {
  kind: PeerKind;
  port: number;
  pid: number;
  /** Spawn to the first CONNACK. */
  startupMs: number;
  /** RSS at the first CONNACK. */
  rssAtReady: number;
  /** The broker's CPU time (all threads) from spawn to that first CONNACK, ms: what load moves least. */
  startupCpuMs: number;
  /** Resolves, with how, when the process exits (on its own or by `stop`). */
  exited: Promise<string>;
  /** Set once the process has exited. */
  exitDescription: string | undefined;
  /** The last few KB of its stdout and stderr, for a report on why it died. */
  outputTail(): string;
  /** Stops it (SIGTERM) and starts it again on the same port and data dir; resolves at its first CONNACK. */
  restart(): Promise<void>;
  /** Stops it, empties its data dir (what it stored is gone) and starts it again; resolves at its first CONNACK. */
  wipe(): Promise<void>;
  stop(): Promise<void>;
}

/** Per-scenario broker bounds (the default is unbounded queues on every broker). */
export interface PeerLimits {
  maxQueuedMessages?: number;
  /** Sessions and queues survive a restart (Mosquitto: `persistence true`; Midge level always). */
  persistence?: boolean;
}

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const hasMosquitto = existsSync(MOSQUITTO);

const READY_TIMEOUT_MS = 30_000;

/** Data dirs of running peers: removed even when Ctrl-C ends the run before `stop` could. */
const liveDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});
const OUTPUT_TAIL_BYTES = 4096;

/**
 * Midge's benchmark limits: publishers are acked once their messages are stored, so a slow
 * subscriber's queue may hold most of a run (the Pi-sized defaults would drop); logging at warn
 * as Mosquitto logs errors only (Midge logs every connect at info: 10,000 lines in scenario 6).
 */
const MIDGE_ENV = {
  MIDGE_HTTP__ENABLED: 'false',
  MIDGE_LIMITS__MAX_QUEUED_MESSAGES: '10000000',
  MIDGE_LIMITS__MAX_QUEUED_BYTES: String(4 * 1024 ** 3),
};

function spawnPeer(kind: PeerKind, port: number, dir: string, limits: PeerLimits): ChildProcess {
  const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];
  if (kind === 'midge-memory' || kind === 'midge-level') {
    const store = kind === 'midge-memory' ? 'memory' : 'level';
    // BENCH_MIDGE_NODE_ARGS: node flags for the broker only (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
    const nodeArgs = process.env.BENCH_MIDGE_NODE_ARGS?.split(' ').filter((a) => a !== '') ?? [];
    const args = [...nodeArgs, MIDGE_ENTRY, '--port', String(port), '--store', store, '--data-dir', dir, '--max-connections', '20000', '--log-level', 'warn'];
    const env = { ...process.env, ...MIDGE_ENV };
    if (limits.maxQueuedMessages !== undefined) env.MIDGE_LIMITS__MAX_QUEUED_MESSAGES = String(limits.maxQueuedMessages);
    return spawnChild(process.execPath, args, { cwd: ROOT, stdio, env });
  }
  if (kind === 'mosquitto') {
    const conf = path.join(dir, 'mosquitto.conf');
    // Queues unbounded like Midge's benchmark setting, so neither drops what the other keeps;
    // max_connections -1 (unlimited) is the default, written out because scenario 6 relies on it.
    const lines = [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      ...(limits.persistence ? ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 0'] : ['persistence false']),
      `max_queued_messages ${limits.maxQueuedMessages ?? 0}`,
      'max_inflight_messages 32',
      'max_connections -1',
      'log_type error',
      ...(process.getuid?.() === 0 ? ['user root'] : []),
    ];
    writeFileSync(conf, `${lines.join('\n')}\n`);
    return spawnChild(MOSQUITTO, ['-c', conf], { stdio });
  }
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'aedes-server.mjs');
  return spawnChild(process.execPath, [script, String(port)], { stdio });
}

/** Polls connect + CONNECT until a CONNACK comes back: when it came, and the RSS then. */
async function firstConnack(port: number, child: ChildProcess): Promise<{ answeredAt: number; rss: number; cpuMs: number }> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (hasExited(child)) throw new Error(`exited before answering (code ${child.exitCode}, signal ${child.signalCode})`);
    const probe = LoadClient.open(port);
    const giveUp = setTimeout(() => probe.destroy(), Math.max(0, deadline - performance.now()));
    try {
      await probe.handshake({ clientId: 'bench-ready-probe' });
      const answeredAt = performance.now();
      const rss = rssBytes(child.pid!);
      const cpuMs = cpuSeconds(child.pid!) * 1000;
      await probe.disconnect();
      return { answeredAt, rss, cpuMs };
    } catch {
      probe.destroy();
      if (performance.now() > deadline) throw new Error(`no CONNACK within ${READY_TIMEOUT_MS} ms`);
      await pause(5); // connection refused: not listening yet
    } finally {
      clearTimeout(giveUp);
    }
  }
}

export async function startPeer(kind: PeerKind, limits: PeerLimits = {}): Promise<RunningPeer> {
  const dir = await makeTempDir(`midge-peer-${kind}-`);
  liveDirs.add(dir);
  const port = await freePort();
  let tail = '';
  const keepTail = (data: Buffer): void => {
    tail = (tail + data.toString()).slice(-OUTPUT_TAIL_BYTES);
  };
  let child: ChildProcess;
  let isRestarting = false;
  let markExited: (how: string) => void = () => undefined;
  const exited = new Promise<string>((resolve) => (markExited = resolve));
  const launch = async (): Promise<void> => {
    const spawnedAt = performance.now();
    child = spawnPeer(kind, port, dir, limits);
    child.stdout!.on('data', keepTail);
    child.stderr!.on('data', keepTail);
    peer.pid = child.pid!;
    child.once('exit', (code, signal) => {
      // The exit a restart asks for is not the broker dying.
      if (isRestarting) return;
      peer.exitDescription = signal ? `killed by ${signal}` : `exit code ${code}`;
      markExited(peer.exitDescription);
    });
    const { answeredAt, rss, cpuMs } = await firstConnack(port, child);
    peer.startupMs = answeredAt - spawnedAt;
    peer.rssAtReady = rss;
    peer.startupCpuMs = cpuMs;
  };
  const peer: RunningPeer = {
    kind,
    port,
    pid: 0,
    startupMs: NaN,
    rssAtReady: NaN,
    startupCpuMs: NaN,
    exitDescription: undefined,
    exited,
    outputTail: () => tail,
    restart: async () => {
      isRestarting = true;
      await stopChild(child);
      isRestarting = false;
      await launch();
    },
    wipe: async () => {
      isRestarting = true;
      await stopChild(child);
      isRestarting = false;
      // Mosquitto's config file is written again at every launch.
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await launch();
    },
    stop: async () => {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    },
  };
  try {
    await launch();
    return peer;
  } catch (error) {
    await peer.stop();
    throw new Error(`${kind} did not start: ${(error as Error).message}\n${tail}`);
  }
}
