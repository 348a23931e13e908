/**
 * Per-source Prometheus metrics beside the sinks' `midge_connector_*` ones, read from the
 * sources' status at scrape time (no work on the record path).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SourceStatus } from './source.js';

const STATES = ['starting', 'running', 'backing-off', 'stopped'] as const;

export function registerSourceMetrics(registry: Registry, statuses: () => readonly SourceStatus[]): void {
  const registers = [registry];
  new Gauge({
    name: 'midge_connector_source_state',
    help: 'Connector source state: 1 for the current one (starting, running, backing-off, stopped)',
    labelNames: ['connector', 'state'],
    registers,
    collect() {
      this.reset();
      for (const s of statuses()) for (const state of STATES) this.set({ connector: s.name, state }, s.state === state ? 1 : 0);
    },
  });
  new Gauge({
    name: 'midge_connector_source_inflight_records',
    help: 'Records taken from the backend and not yet acknowledged to it',
    labelNames: ['connector'],
    registers,
    collect() {
      this.reset();
      for (const s of statuses()) this.set({ connector: s.name }, s.inflight);
    },
  });
  const counter = (name: string, help: string, value: (s: SourceStatus) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ['connector'],
      registers,
      collect() {
        this.reset();
        for (const s of statuses()) this.inc({ connector: s.name }, value(s));
      },
    });
  };
  counter('midge_connector_source_consumed_total', 'Records taken from the backend', (s) => s.consumed);
  counter('midge_connector_source_redelivered_total', 'Records the backend had handed out before (a crash or a cut link)', (s) => s.redelivered);
  counter('midge_connector_source_published_total', 'Messages stored for at least one session', (s) => s.published);
  counter('midge_connector_source_acked_total', 'Records acknowledged to the backend after the commit', (s) => s.acked);
  counter('midge_connector_source_no_subscriber_total', 'Records no session matched', (s) => s.noSubscriber);
  counter('midge_connector_source_dead_lettered_total', 'Records published to the dead-letter topic', (s) => s.deadLettered);
  counter('midge_connector_source_requeued_total', 'Records given back to the backend (no subscriber, requeue)', (s) => s.requeued);
  counter('midge_connector_source_bad_records_total', 'Records that could not be mapped to a message', (s) => s.badRecords);
  counter('midge_connector_source_failed_total', 'Backend and store failures (retried)', (s) => s.failed);
}
