/**
 * The C connection opener (test/bench/opener/opener.c), compiled once per run with the machine's
 * `cc`: the accept rate of a broker is then measured from outside Node (which opens ~8.5k
 * connections/s here, below what a C broker accepts).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'opener', 'opener.c');

let built: { binary?: string; why?: string } | undefined;

/** The opener's path, or why there is none (no `cc`, a compile error). */
export function openerBinary(): { binary?: string; why?: string } {
  if (built) return built;
  const binary = path.join(mkdtempSync(path.join(tmpdir(), 'midge-opener-')), 'opener');
  try {
    execFileSync('cc', ['-O2', '-o', binary, SOURCE], { stdio: 'pipe' });
    built = { binary };
  } catch (error) {
    built = { why: `the C opener could not be built with cc (${(error as Error).message.split('\n')[0]}); install gcc` };
  }
  return built;
}

export interface OpenerResult {
  connected: number;
  failed: number;
  /** From the opener's start to its last CONNACK. */
  connectedMs: number;
  /** PUBLISHes received (each QoS 1 one answered with PUBACK). */
  received: number;
  /** From the opener's start to the last PUBLISH. */
  deliveredMs: number;
}

export interface OpenerRun {
  port: number;
  count: number;
  /** At most this many connections awaiting CONNACK at once. */
  outstanding: number;
  holdMs: number;
  isClean: boolean;
  idPrefix: string;
  /** Wait for this many PUBLISHes in all (0: none), or until none came for `idleMs`. */
  expectMessages?: number;
  idleMs?: number;
  /** Called with the opener's pid once it runs (to sample the broker meanwhile). */
  onStarted?: () => void;
}

export function runOpener(binary: string, run: OpenerRun): Promise<OpenerResult> {
  const args = [run.port, run.count, run.outstanding, run.holdMs, run.isClean ? 1 : 0, run.idPrefix, run.expectMessages ?? 0, run.idleMs ?? 5000].map(String);
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
