/**
 * Per-connector Prometheus metrics, read from the connectors' status at scrape time (no work on
 * the message path), registered in the broker's own registry.
 */
import type { Registry } from 'prom-client';
import type { ConnectorStatus } from './connector-status.js';
import { statusMetrics } from '../observability/index.js';

const STATES = ['running', 'backing-off', 'paused', 'stopped', 'starting'] as const;

export function registerConnectorMetrics(registry: Registry, statuses: () => readonly ConnectorStatus[]): void {
  const m = statusMetrics(registry, statuses);
  m.stateGauge('midge_connector_state', 'Connector state: 1 for the current one (running, backing-off, paused, stopped)', STATES, (s) => s.state);
  m.gauge('midge_connector_paused_by_operator', 'Connector paused by the operator (admin API): 1, else 0 (a configuration pause is state="paused" with 0 here)', (s) =>
    s.pausedBy === 'operator' ? 1 : 0,
  );
  m.gauge('midge_connector_queued_messages', 'Messages waiting in the connector session queue (store)', (s) => s.queued);
  m.gauge('midge_connector_inflight_messages', 'Messages the connector holds unconfirmed by its backend', (s) => s.inflight);
  m.gauge('midge_connector_oldest_age_seconds', 'Age of the oldest message the connector holds unconfirmed', (s) => s.oldestAgeSeconds);
  m.counter('midge_connector_delivered_total', 'Messages the backend confirmed', (s) => s.delivered);
  m.counter('midge_connector_retried_total', 'Messages sent again after an error', (s) => s.retried);
  m.counter('midge_connector_dead_lettered_total', 'Messages published to the dead-letter topic', (s) => s.deadLettered);
  m.counter('midge_connector_dropped_total', 'Messages dropped by the connector queue bound (or expired)', (s) => s.dropped);
  m.counter('midge_connector_batches_total', 'Batches the backend confirmed', (s) => s.batches);
  m.counter('midge_connector_batch_seconds_total', 'Time spent on confirmed batches (÷ batches = mean batch latency)', (s) => s.batchSecondsSum);
  m.labelledCounter('midge_connector_failed_total', 'Failed sends by error class (transient, configuration, data)', 'class', (s) => s.failed);
}
