/**
 * Prometheus metrics read from service statuses at scrape time (no work on the message path):
 * the registration boilerplate the connectors' sinks and sources and the durable queues share —
 * one gauge or counter per status field, labelled by the service's name (`connector`, `queue`),
 * and a one-hot state gauge.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface StatusMetrics<S> {
  /** A gauge of one number per service. */
  gauge(name: string, help: string, value: (s: S) => number): void;
  /** A counter of one running total per service. */
  counter(name: string, help: string, value: (s: S) => number): void;
  /** 1 for the service's current state, 0 for the others. */
  stateGauge(name: string, help: string, states: readonly string[], stateOf: (s: S) => string): void;
  /** A counter with one more label (e.g. the error class), from the entries `values` gives. */
  labelledCounter(name: string, help: string, label: string, values: (s: S) => Record<string, number>): void;
}

export function statusMetrics<S extends { name: string }>(
  registry: Registry,
  statuses: () => readonly S[],
  /** The label that names each status's service. */
  nameLabel = 'connector',
): StatusMetrics<S> {
  const registers = [registry];
  return {
    gauge(name, help, value) {
      new Gauge({
        name,
        help,
        labelNames: [nameLabel],
        registers,
        collect() {
          this.reset();
          for (const s of statuses()) this.set({ [nameLabel]: s.name }, value(s));
        },
      });
    },
    counter(name, help, value) {
      new Counter({
        name,
        help,
        labelNames: [nameLabel],
        registers,
        collect() {
          this.reset();
          for (const s of statuses()) this.inc({ [nameLabel]: s.name }, value(s));
        },
      });
    },
    stateGauge(name, help, states, stateOf) {
      new Gauge({
        name,
        help,
        labelNames: [nameLabel, 'state'],
        registers,
        collect() {
          this.reset();
          for (const s of statuses()) for (const state of states) this.set({ [nameLabel]: s.name, state }, stateOf(s) === state ? 1 : 0);
        },
      });
    },
    labelledCounter(name, help, label, values) {
      new Counter({
        name,
        help,
        labelNames: [nameLabel, label],
        registers,
        collect() {
          this.reset();
          for (const s of statuses()) for (const [key, n] of Object.entries(values(s))) this.inc({ [nameLabel]: s.name, [label]: key }, n);
        },
      });
    },
  };
}
