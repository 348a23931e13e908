/**
 * Prometheus metrics read from connector statuses at scrape time (no work on the message path):
 * the registration boilerplate the sink and source metrics share — one gauge or counter per
 * status field, labelled by connector, and a one-hot state gauge.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface StatusMetrics<S> {
  /** A gauge of one number per connector. */
  gauge(name: string, help: string, value: (s: S) => number): void;
  /** A counter of one running total per connector. */
  counter(name: string, help: string, value: (s: S) => number): void;
  /** 1 for the connector's current state, 0 for the others. */
  stateGauge(name: string, help: string, states: readonly string[], stateOf: (s: S) => string): void;
  /** A counter with one more label (e.g. the error class), from the entries `values` gives. */
  labelledCounter(name: string, help: string, label: string, values: (s: S) => Record<string, number>): void;
}

export function statusMetrics<S extends { name: string }>(registry: Registry, statuses: () => readonly S[]): StatusMetrics<S> {
  const registers = [registry];
  return {
    gauge(name, help, value) {
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
    },
    counter(name, help, value) {
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
    },
    stateGauge(name, help, states, stateOf) {
      new Gauge({
        name,
        help,
        labelNames: ['connector', 'state'],
        registers,
        collect() {
          this.reset();
          for (const s of statuses()) for (const state of states) this.set({ connector: s.name, state }, stateOf(s) === state ? 1 : 0);
        },
      });
    },
    labelledCounter(name, help, label, values) {
      new Counter({
        name,
        help,
        labelNames: ['connector', label],
        registers,
        collect() {
          this.reset();
          for (const s of statuses()) for (const [key, n] of Object.entries(values(s))) this.inc({ connector: s.name, [label]: key }, n);
        },
      });
    },
  };
}
