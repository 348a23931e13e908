/**
 * Per-queue Prometheus metrics, read from the queues' status at scrape time (no work on the
 * message path), registered in the broker's own registry.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { QueueStatus } from './queue.js';

export function registerQueueMetrics(registry: Registry, statuses: () => readonly QueueStatus[]): void {
  const registers = [registry];
  const gauge = (name: string, help: string, value: (s: QueueStatus) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['queue'],
      registers,
      collect() {
        this.reset();
        for (const s of statuses()) this.set({ queue: s.name }, value(s));
      },
    });
  };
  const counter = (name: string, help: string, value: (s: QueueStatus) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ['queue'],
      registers,
      collect() {
        this.reset();
        for (const s of statuses()) this.inc({ queue: s.name }, value(s));
      },
    });
  };
  gauge('midge_queue_depth_messages', 'Messages in the queue not yet acknowledged by a consumer', (s) => s.depth);
  gauge('midge_queue_inflight_messages', 'Messages consumers hold unacknowledged', (s) => s.inflight);
  gauge('midge_queue_consumers', 'Consumers connected now', (s) => s.consumersConnected);
  gauge('midge_queue_oldest_age_seconds', 'Age of the oldest message in the queue', (s) => s.oldestAgeSeconds);
  counter('midge_queue_delivered_total', 'Messages a consumer acknowledged (QoS 0: handed over)', (s) => s.delivered);
  counter('midge_queue_redelivered_total', 'Deliveries of a message a consumer had left unacknowledged', (s) => s.redelivered);
  counter('midge_queue_dead_lettered_total', 'Messages published to the dead-letter topic after maxDeliveries', (s) => s.deadLettered);
  new Counter({
    name: 'midge_queue_dropped_total',
    help: 'Messages dropped by the queue bound (queue-full) or expired',
    labelNames: ['queue', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const s of statuses()) for (const [reason, n] of Object.entries(s.droppedByReason)) this.inc({ queue: s.name, reason }, n ?? 0);
    },
  });
}
