/**
 * Per-connector Prometheus metrics, read from the connectors' status at scrape time (no work on
 * the message path), registered in the broker's own registry.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ConnectorStatus } from './connector.js';

const STATES = ['running', 'backing-off', 'paused', 'stopped', 'starting'] as const;

export function registerConnectorMetrics(registry: Registry, statuses: () => readonly ConnectorStatus[]): void {
  const registers = [registry];
  const gauge = (name: string, help: string, value: (s: ConnectorStatus) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['connector'],
      registers,
      collect() {
        this.reset();
        for (const s of statuses()) this.set({ connector: s.name }, value(s));
      },
    });
  };
  const counter = (name: string, help: string, value: (s: ConnectorStatus) => number): void => {
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
  new Gauge({
    name: 'midge_connector_state',
    help: 'Connector state: 1 for the current one (running, backing-off, paused, stopped)',
    labelNames: ['connector', 'state'],
    registers,
    collect() {
      this.reset();
      for (const s of statuses()) for (const state of STATES) this.set({ connector: s.name, state }, s.state === state ? 1 : 0);
    },
  });
  gauge('midge_connector_queued_messages', 'Messages waiting in the connector session queue (store)', (s) => s.queued);
  gauge('midge_connector_inflight_messages', 'Messages the connector holds unconfirmed by its backend', (s) => s.inflight);
  gauge('midge_connector_oldest_age_seconds', 'Age of the oldest message the connector holds unconfirmed', (s) => s.oldestAgeSeconds);
  counter('midge_connector_delivered_total', 'Messages the backend confirmed', (s) => s.delivered);
  counter('midge_connector_retried_total', 'Messages sent again after an error', (s) => s.retried);
  counter('midge_connector_dead_lettered_total', 'Messages published to the dead-letter topic', (s) => s.deadLettered);
  counter('midge_connector_dropped_total', 'Messages dropped by the connector queue bound (or expired)', (s) => s.dropped);
  counter('midge_connector_batches_total', 'Batches the backend confirmed', (s) => s.batches);
  counter('midge_connector_batch_seconds_total', 'Time spent on confirmed batches (÷ batches = mean batch latency)', (s) => s.batchSecondsSum);
  new Counter({
    name: 'midge_connector_failed_total',
    help: 'Failed sends by error class (transient, configuration, data)',
    labelNames: ['connector', 'class'],
    registers,
    collect() {
      this.reset();
      for (const s of statuses()) for (const [errorClass, n] of Object.entries(s.failed)) this.inc({ connector: s.name, class: errorClass }, n);
    },
  });
}
