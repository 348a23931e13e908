/**
 * Starts brokers as child processes for benchmarks and reads what /proc says about a process:
 * CPU time, RSS, open-file limit (Linux).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { spawnBroker, type BrokerProcess } from '../../helpers/process.js';

export { spawnBroker, type BrokerProcess };

/**
 * CPU seconds of a process, all its threads: the sum of /proc/<pid>/task/<tid>/schedstat (ns).
 * /proc/<pid>/stat counts in 10 ms ticks, too coarse for a quick run's half-second window; it
 * remains the fallback. (A thread that exits takes its schedstat with it; brokers keep theirs.)
 */
export function cpuSeconds(pid: number): number {
  try {
    let nanoseconds = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      nanoseconds += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    }
    if (Number.isFinite(nanoseconds) && nanoseconds > 0) return nanoseconds / 1e9;
  } catch {
    // fall through to the tick count
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100;
  } catch {
    return NaN;
  }
}

export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** The soft and hard "Max open files" of a process, from /proc/<pid>/limits. */
export function openFileLimit(pid: number): { soft: number; hard: number } {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const match = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(limits);
  const value = (s: string | undefined): number => (s === undefined || s === 'unlimited' ? Infinity : Number(s));
  return { soft: value(match?.[1]), hard: value(match?.[2]) };
}

/**
 * Lifts a process's soft open-file limit towards `wanted` (never past the hard limit, which only
 * root may raise) with prlimit(1); returns the soft limit in force afterwards.
 */
export function raiseOpenFileLimit(pid: number, wanted: number): number {
  const { soft, hard } = openFileLimit(pid);
  if (soft >= wanted) return soft;
  const target = Math.min(wanted, hard);
  try {
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${target}:${hard === Infinity ? 'unlimited' : hard}`], { stdio: 'ignore' });
  } catch {
    // prlimit missing or not permitted: the caller sizes the scenario to the limit it reads back.
  }
  return openFileLimit(pid).soft;
}

export interface WindowResult {
  seconds: number;
  brokerCpuSeconds: number;
  /** This process (the load generator), all threads. */
  generatorCpuSeconds: number;
}

/**
 * Starts a measured interval: wall time, the broker's CPU time and the generator's own. `end`
 * may be given the moment the interval really ended (the last delivery, before idle waiting).
 */
export function startWindow(brokerPid: number): { end(endedAt?: number): WindowResult } {
  const startedAt = performance.now();
  const brokerCpu = cpuSeconds(brokerPid);
  const ownCpu = process.cpuUsage();
  return {
    end(endedAt = performance.now()): WindowResult {
      const own = process.cpuUsage(ownCpu);
      return {
        seconds: (endedAt - startedAt) / 1000,
        brokerCpuSeconds: cpuSeconds(brokerPid) - brokerCpu,
        generatorCpuSeconds: (own.user + own.system) / 1e6,
      };
    },
  };
}

export async function stopBroker(broker: BrokerProcess): Promise<void> {
  broker.child.kill('SIGTERM');
  await broker.exited;
}
