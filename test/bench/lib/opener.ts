/**
 * The C tools in test/bench/opener/, compiled once per run with the machine's `cc`:
 *  - the connection opener (opener.c): the accept rate of a broker is measured from outside Node
 *    (which opens ~8.5k connections/s here, below what a C broker accepts);
 *  - the latency prober (prober.c): the Node generator's own tails (timer, GC, a heap full of
 *    earlier scenarios' garbage) were the floor under every broker's p99.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'opener');

const built = new Map<string, { binary?: string; why?: string }>();

/** A tool's path, or why there is none (no `cc`, a compile error). */
function cBinary(name: 'opener' | 'prober'): { binary?: string; why?: string } {
  const known = built.get(name);
  if (known) return known;
  const binary = path.join(mkdtempSync(path.join(tmpdir(), `midge-${name}-`)), name);
  let result: { binary?: string; why?: string };
  try {
    execFileSync('cc', ['-O2', '-o', binary, path.join(SOURCES, `${name}.c`)], { stdio: 'pipe' });
    result = { binary };
  } catch (error) {
    result = { why: `the C ${name} could not be built with cc (${(error as Error).message.split('\n')[0]}); install gcc` };
  }
  built.set(name, result);
  return result;
}

/** The opener's path, or why there is none (no `cc`, a compile error). */
export function openerBinary(): { binary?: string; why?: string } {
  return cBinary('opener');
}

/** The latency prober's path, or why there is none. */
export function proberBinary(): { binary?: string; why?: string } {
  return cBinary('prober');
}

export interface ProberRun {
  port: number;
  qos: 0 | 1;
  ratePerSecond: number;
  warmupMs: number;
  measureMs: number;
  topic: string;
  /** One connection that reads its own PUBLISHes back (a reflecting peer). */
  isReflected: boolean;
  maxInFlight: number;
  /** Called when the measured window opens and closes (to read the broker's CPU over it). */
  onMeasuring: () => void;
  onMeasured: () => void;
  signal?: AbortSignal;
}

export interface ProberResult {
  p50Us: number;
  p99Us: number;
  p999Us: number;
  samples: number;
  lost: number;
  windowFullTicks: number;
}

export function runProber(binary: string, run: ProberRun): Promise<ProberResult> {
  const args = [run.port, run.qos, run.ratePerSecond, run.warmupMs, run.measureMs, run.topic, run.isReflected ? 1 : 0, run.maxInFlight].map(String);
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], signal: run.signal });
    let out = '';
    let errors = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const before = out;
      out += chunk.toString();
      if (!before.includes('measuring\n') && out.includes('measuring\n')) run.onMeasuring();
      if (!before.includes('measured\n') && out.includes('measured\n')) run.onMeasured();
    });
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`prober exited with ${code}: ${errors.trim().slice(0, 200)}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as ProberResult);
      } catch {
        reject(new Error(`prober printed no result: ${out.slice(0, 200)}`));
      }
    });
  });
}

export interface OpenerResult {
  connected: number;
  failed: number;
  /** How they failed, e.g. "3 reset awaiting CONNACK" (empty when none did). */
  failedHow: string;
  /** From the opener's start to its last CONNACK. */
  connectedMs: number;
  /** PUBLISHes received (each QoS 1 one answered with PUBACK), redeliveries included. */
  received: number;
  /** From the opener's start to the last PUBLISH. */
  deliveredMs: number;
  /** CONNACKs that said Session Present. */
  sessionsPresent: number;
  /** Summed over connections: how many first deliveries (DUP clear) each got short of its share (expectMessages / count). */
  missing: number;
  /** PUBLISHes with DUP set. */
  duplicates: number;
}

export interface OpenerRun {
  port: number;
  count: number;
  /** At most this many connections awaiting CONNACK at once. */
  outstanding: number;
  holdMs: number;
  isClean: boolean;
  idPrefix: string;
  /** Wait for this many PUBLISHes in all, an equal share on each connection (0: none), or until none came for `idleMs`. */
  expectMessages?: number;
  idleMs?: number;
  /** 4: MQTT 3.1.1 (the default); 5: MQTT 5.0, the CONNECT with `sessionExpirySeconds` as its Session Expiry Interval. */
  version?: 4 | 5;
  sessionExpirySeconds?: number;
  /** Called with the opener's pid once it runs (to sample the broker meanwhile). */
  onStarted?: () => void;
}

export function runOpener(binary: string, run: OpenerRun): Promise<OpenerResult> {
  const args = [run.port, run.count, run.outstanding, run.holdMs, run.isClean ? 1 : 0, run.idPrefix, run.expectMessages ?? 0, run.idleMs ?? 5000, run.version ?? 4, run.sessionExpirySeconds ?? 0].map(String);
  return new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: 300_000 }, (error, stdout) => {
      if (error) return reject(error);
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as OpenerResult);
      } catch {
        reject(new Error(`opener printed no result: ${stdout.slice(0, 200)}`));
      }
    });
    run.onStarted?.();
  });
}
