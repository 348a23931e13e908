/**
 * Per-source Prometheus metrics beside the sinks' `midge_connector_*` ones, read from the
 * sources' status at scrape time (no work on the record path).
 */
import type { Registry } from 'prom-client';
import { statusMetrics } from '../../observability/index.js';
import type { SourceStatus } from './source.js';

const STATES = ['starting', 'running', 'backing-off', 'paused', 'stopped'] as const;

export function registerSourceMetrics(registry: Registry, statuses: () => readonly SourceStatus[]): void {
  const m = statusMetrics(registry, statuses);
  m.stateGauge('midge_connector_source_state', 'Connector source state: 1 for the current one (starting, running, backing-off, paused by the operator, stopped)', STATES, (s) => s.state);
  m.gauge('midge_connector_source_inflight_records', 'Records taken from the backend and not yet acknowledged to it', (s) => s.inflight);
  m.counter('midge_connector_source_consumed_total', 'Records taken from the backend', (s) => s.consumed);
  m.counter('midge_connector_source_redelivered_total', 'Records the backend had handed out before (a crash or a cut link)', (s) => s.redelivered);
  m.counter('midge_connector_source_published_total', 'Messages stored for at least one session', (s) => s.published);
  m.counter('midge_connector_source_acked_total', 'Records acknowledged to the backend after the commit', (s) => s.acked);
  m.counter('midge_connector_source_no_subscriber_total', 'Records no session matched', (s) => s.noSubscriber);
  m.counter('midge_connector_source_dead_lettered_total', 'Records published to the dead-letter topic', (s) => s.deadLettered);
  m.counter('midge_connector_source_requeued_total', 'Records given back to the backend (no subscriber, requeue)', (s) => s.requeued);
  m.counter('midge_connector_source_bad_records_total', 'Records that could not be mapped to a message', (s) => s.badRecords);
  m.counter('midge_connector_source_expired_total', 'Records already expired when taken (AMQP expiration): acked, not published', (s) => s.expired);
  m.counter('midge_connector_source_failed_total', 'Backend and store failures (retried)', (s) => s.failed);
}
