/**
 * One table of counters and gauges, and the views generated from it: `$SYS` topics, a JSON object
 * (the admin API's /api/v1/stats), Prometheus series (/metrics) and the figures of the dashboard's
 * stats stream (and /api/v1/overview). A row says once what a figure is (key, help, type) and in
 * which views it appears, so the views cannot drift apart.
 *
 * Rows read a *reading*: one snapshot of the figures, taken once per view render. The hot path
 * only increments plain fields; walking the sessions happens at render time, once. This module
 * knows nothing of the broker: the broker's rows are in broker/counters-table.ts.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export type MetricType = 'counter' | 'gauge';

/** Label values in the order of the row's `labels`, and the number for them. */
export type LabelledValue = readonly [labelValues: readonly string[], value: number];

interface RowBase {
  /** Unique; the JSON key when the row is in the JSON view. */
  readonly key: string;
  /** What the figure means: Prometheus HELP, and the table's documentation. */
  readonly help: string;
  /** In the JSON view unless false (per-entity rows have their own admin routes). */
  readonly json?: boolean;
}

/**
 * A number's place in the dashboard's stats stream: under `field`, a counter as its per-second
 * `rate` (the sampler takes differences); or, with `group`, the entry `label` of a by-reason record.
 */
export type StreamPlace = { readonly field: string; readonly rate?: string } | { readonly group: string; readonly label: string };

/** One number. */
export interface NumberRow<R> extends RowBase {
  readonly kind: 'number';
  readonly type: MetricType;
  /** `undefined`: not known in this reading (the row is left out of every view then). */
  value(reading: R): number | undefined;
  /** Topic suffixes under `$SYS/broker/`; the first is the name, the others are aliases. */
  readonly sys?: readonly string[];
  /** How the `$SYS` payload writes the value (default: the number). */
  sysText?(value: number): string;
  readonly prometheus?: string;
  readonly stream?: StreamPlace;
}

/** Three numbers, for QoS 0, 1 and 2: a JSON array, a `qos` label in Prometheus. */
export interface QosRow<R> extends RowBase {
  readonly kind: 'qos';
  readonly type: MetricType;
  value(reading: R): readonly number[];
  readonly prometheus?: string;
}

/**
 * Numbers by label values. JSON (one label only): an object keyed by the label's value.
 * `$SYS`: a topic template whose `{label}` places take the values; a value holding `+` or `#`
 * cannot be a topic level and is left out.
 */
export interface LabelledRow<R> extends RowBase {
  readonly kind: 'labelled';
  readonly type: MetricType;
  readonly labels: readonly string[];
  value(reading: R): Iterable<LabelledValue>;
  readonly sys?: string;
  readonly prometheus?: string;
  /** Zero values are not shown (a bounded per-entity list: only those that have something). */
  readonly omitZero?: boolean;
  /** In the stats stream (one label only): entries of the by-reason record `group`, each keyed `prefix` + label value. */
  readonly stream?: { readonly group: string; readonly prefix?: string };
}

/** A text: `$SYS` and JSON only. */
export interface TextRow<R> extends RowBase {
  readonly kind: 'text';
  value(reading: R): string;
  readonly sys?: readonly string[];
  sysText?(value: string): string;
}

export type CounterRow<R> = NumberRow<R> | QosRow<R> | LabelledRow<R> | TextRow<R>;
export type CounterTable<R> = readonly CounterRow<R>[];

const TOPIC_WILDCARD = /[+#]/;

/** The `$SYS/broker/…` suffixes and payloads of one reading, in table order. */
export function sysView<R>(table: CounterTable<R>, reading: R): Array<[suffix: string, payload: string]> {
  const out: Array<[string, string]> = [];
  for (const row of table) {
    switch (row.kind) {
      case 'number': {
        if (!row.sys) break;
        const value = row.value(reading);
        if (value === undefined) break;
        const text = row.sysText ? row.sysText(value) : String(value);
        for (const suffix of row.sys) out.push([suffix, text]);
        break;
      }
      case 'text': {
        if (!row.sys) break;
        const value = row.value(reading);
        const text = row.sysText ? row.sysText(value) : value;
        for (const suffix of row.sys) out.push([suffix, text]);
        break;
      }
      case 'labelled': {
        if (!row.sys) break;
        for (const [values, n] of row.value(reading)) {
          if (row.omitZero && n === 0) continue;
          if (values.some((v) => TOPIC_WILDCARD.test(v))) continue;
          let topic = row.sys;
          row.labels.forEach((label, i) => (topic = topic.replace(`{${label}}`, values[i]!)));
          out.push([topic, String(n)]);
        }
        break;
      }
      case 'qos':
        break;
    }
  }
  return out;
}

/** The JSON object of one reading (/api/v1/stats). */
export function jsonView<R>(table: CounterTable<R>, reading: R): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const row of table) {
    if (row.json === false) continue;
    switch (row.kind) {
      case 'number': {
        const value = row.value(reading);
        if (value !== undefined) out[row.key] = value;
        break;
      }
      case 'text':
        out[row.key] = row.value(reading);
        break;
      case 'qos':
        out[row.key] = [...row.value(reading)];
        break;
      case 'labelled': {
        const record: Record<string, number> = {};
        for (const [values, n] of row.value(reading)) if (!(row.omitZero && n === 0)) record[values[0]!] = n;
        out[row.key] = record;
        break;
      }
    }
  }
  return out;
}

/** The stats stream's figures of one reading (broker/stats-sampler.ts turns consecutive ones into samples). */
export interface StreamReading {
  /** Field → value: gauges as they are, counters cumulative. */
  readonly values: Readonly<Record<string, number>>;
  /** Counter field → the name of its per-second rate in a sample. */
  readonly rates: Readonly<Record<string, string>>;
  /** Group → entry → cumulative count (drops and refusals, by reason). */
  readonly groups: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

/** The stats stream's figures of one reading, from the rows that name a stream place. */
export function streamView<R>(table: CounterTable<R>, reading: R): StreamReading {
  const values: Record<string, number> = {};
  const rates: Record<string, string> = {};
  const groups: Record<string, Record<string, number>> = {};
  const groupOf = (name: string): Record<string, number> => (groups[name] ??= {});
  for (const row of table) {
    if (row.kind === 'number' && row.stream) {
      const value = row.value(reading);
      if (value === undefined) continue;
      const place = row.stream;
      if ('group' in place) {
        groupOf(place.group)[place.label] = value;
      } else {
        values[place.field] = value;
        if (place.rate !== undefined) rates[place.field] = place.rate;
      }
    } else if (row.kind === 'labelled' && row.stream) {
      const group = groupOf(row.stream.group);
      for (const [labelValues, n] of row.value(reading)) if (!(row.omitZero && n === 0)) group[(row.stream.prefix ?? '') + labelValues[0]!] = n;
    }
  }
  return { values, rates, groups };
}

/**
 * Registers one Prometheus metric per row that names one, each calling `read` at scrape time
 * (BrokerMetrics.metrics() hands them all the same reading).
 */
export function registerCounterTable<R>(registry: Registry, table: CounterTable<R>, reading: () => R): void {
  const registers = [registry];
  for (const row of table) {
    if (row.kind === 'text' || !row.prometheus) continue;
    const labelNames = row.kind === 'qos' ? ['qos'] : row.kind === 'labelled' ? [...row.labels] : [];
    const samples = (): Iterable<LabelledValue> => {
      const r = reading();
      if (row.kind === 'number') {
        const value = row.value(r);
        return value === undefined ? [] : [[[], value]];
      }
      if (row.kind === 'qos') return row.value(r).map((n, qos): LabelledValue => [[String(qos)], n]);
      return row.value(r);
    };
    const labelsOf = (values: readonly string[]): Record<string, string> => Object.fromEntries(labelNames.map((name, i) => [name, values[i]!]));
    const omitZero = row.kind === 'labelled' && row.omitZero === true;
    if (row.type === 'counter') {
      new Counter({
        name: row.prometheus,
        help: row.help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const [values, n] of samples()) if (!(omitZero && n === 0)) this.inc(labelsOf(values), n);
        },
      });
    } else {
      new Gauge({
        name: row.prometheus,
        help: row.help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const [values, n] of samples()) if (!(omitZero && n === 0)) this.set(labelsOf(values), n);
        },
      });
    }
  }
}
