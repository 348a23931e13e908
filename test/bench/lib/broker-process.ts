/** Starts brokers as child processes for benchmarks and reads their CPU time from /proc. */
import { readFileSync } from 'node:fs';
import { spawnBroker, type BrokerProcess } from '../../helpers/process.js';

export { spawnBroker, type BrokerProcess };

/** User + system CPU seconds of a process, from /proc/<pid>/stat (Linux). */
export function cpuSeconds(pid: number): number {
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

export async function stopBroker(broker: BrokerProcess): Promise<void> {
  broker.child.kill('SIGTERM');
  await broker.exited;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
