/**
 * What a durable queue reports (the admin API, /metrics, `$SYS`) and the counters behind it,
 * the same for a single node's queue and a cluster's.
 */
import type { ServiceStatus } from '../broker/index.js';
import type { DropReason } from '../session/index.js';
import type { QueueHost } from './host.js';

export interface QueueStatus extends ServiceStatus {
  kind: 'queue';
  topics: string[];
  /** Messages in the queue not yet acknowledged by a consumer (waiting and in flight). */
  depth: number;
  /** Of those, the ones a consumer holds unacknowledged (cluster: on this node). */
  inflight: number;
  /** Consumers subscribed (online or not) and connected now (cluster: on this node). */
  consumers: number;
  consumersConnected: number;
  delivered: number;
  redelivered: number;
  deadLettered: number;
  dropped: number;
  droppedByReason: Partial<Record<DropReason, number>>;
  /** Age of the oldest message in the queue, seconds (0 when empty). */
  oldestAgeSeconds: number;
}

/** The running totals of one queue (cluster: of what this node did). */
export class QueueCounters {
  delivered = 0;
  redelivered = 0;
  deadLettered = 0;
  dropped = 0;
  droppedByReason: Partial<Record<DropReason, number>> = {};

  /** Counts a drop; true for the first of each thousand queue-full drops (worth a log line). */
  countDrop(reason: DropReason): boolean {
    this.dropped++;
    const n = (this.droppedByReason[reason] = (this.droppedByReason[reason] ?? 0) + 1);
    return reason === 'queue-full' && n % 1000 === 1;
  }

  snapshot(): Pick<QueueStatus, 'delivered' | 'redelivered' | 'deadLettered' | 'dropped' | 'droppedByReason'> {
    return { delivered: this.delivered, redelivered: this.redelivered, deadLettered: this.deadLettered, dropped: this.dropped, droppedByReason: { ...this.droppedByReason } };
  }
}

/** `$SYS/broker/queue/<name>/<counter>`, in memory only (as the broker's own $SYS topics). */
export function publishQueueSys(host: QueueHost, s: QueueStatus): void {
  const base = `$SYS/broker/queue/${s.name}`;
  host.publishStatus(`${base}/depth`, String(s.depth));
  host.publishStatus(`${base}/inflight`, String(s.inflight));
  host.publishStatus(`${base}/consumers`, String(s.consumersConnected));
  host.publishStatus(`${base}/delivered`, String(s.delivered));
  host.publishStatus(`${base}/redelivered`, String(s.redelivered));
  host.publishStatus(`${base}/dead-lettered`, String(s.deadLettered));
  host.publishStatus(`${base}/dropped`, String(s.dropped));
  host.publishStatus(`${base}/oldest-age-seconds`, s.oldestAgeSeconds.toFixed(3));
}

/** Calls `publish` now and every `seconds` (0: never); returns the timer to clear. */
export function startSysTimer(seconds: number, publish: () => void): NodeJS.Timeout | undefined {
  if (seconds <= 0) return undefined;
  publish();
  const timer = setInterval(publish, seconds * 1000);
  timer.unref();
  return timer;
}
