/**
 * Per-queue Prometheus metrics, read from the queues' status at scrape time (no work on the
 * message path), registered in the broker's own registry through the shared status metrics.
 */
import type { Registry } from 'prom-client';
import { statusMetrics } from '../observability/index.js';
import type { QueueStatus } from './queue-status.js';

export function registerQueueMetrics(registry: Registry, statuses: () => readonly QueueStatus[]): void {
  const m = statusMetrics(registry, statuses, 'queue');
  m.gauge('midge_queue_depth_messages', 'Messages in the queue not yet acknowledged by a consumer', (s) => s.depth);
  m.gauge('midge_queue_inflight_messages', 'Messages consumers hold unacknowledged', (s) => s.inflight);
  m.gauge('midge_queue_consumers', 'Consumers connected now', (s) => s.consumersConnected);
  m.gauge('midge_queue_oldest_age_seconds', 'Age of the oldest message in the queue', (s) => s.oldestAgeSeconds);
  m.counter('midge_queue_delivered_total', 'Messages a consumer acknowledged (QoS 0: handed over)', (s) => s.delivered);
  m.counter('midge_queue_redelivered_total', 'Deliveries of a message a consumer had left unacknowledged', (s) => s.redelivered);
  m.counter('midge_queue_dead_lettered_total', 'Messages published to the dead-letter topic after maxDeliveries', (s) => s.deadLettered);
  m.labelledCounter('midge_queue_dropped_total', 'Messages dropped by the queue bound (queue-full) or expired', 'reason', (s) => s.droppedByReason as Record<string, number>);
}
