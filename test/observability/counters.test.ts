/** The counters table's renderers ($SYS, JSON, Prometheus, the stats stream's figures), on a small table, without a broker. */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BrokerMetrics, jsonView, registerCounterTable, streamView, sysView, type CounterTable } from '../../src/observability/index.js';

interface Reading {
  up: number;
  size: number | undefined;
  byQos: [number, number, number];
  byReason: Record<string, number>;
  perClient: Array<[string, string, number]>;
  state: string;
}

const TABLE: CounterTable<Reading> = [
  { key: 'up', kind: 'number', type: 'gauge', help: 'Up', sys: ['up', 'up/alias'], sysText: (v) => `${v} s`, prometheus: 't_up', value: (r) => r.up },
  { key: 'size', kind: 'number', type: 'gauge', help: 'Size', sys: ['size'], json: false, value: (r) => r.size },
  { key: 'byQos', kind: 'qos', type: 'counter', help: 'By QoS', prometheus: 't_by_qos_total', value: (r) => r.byQos },
  { key: 'byReason', kind: 'labelled', type: 'counter', labels: ['reason'], help: 'By reason', sys: 'by/{reason}', prometheus: 't_by_reason_total', value: (r) => Object.entries(r.byReason).map(([k, n]) => [[k], n] as const) },
  {
    key: 'perClient',
    kind: 'labelled',
    type: 'gauge',
    labels: ['client_id', 'reason'],
    help: 'Per client',
    sys: 'c/{client_id}/{reason}',
    prometheus: 't_per_client',
    omitZero: true,
    json: false,
    value: (r) => r.perClient.map(([c, reason, n]) => [[c, reason], n] as const),
  },
  { key: 'state', kind: 'text', help: 'State', sys: ['state'], value: (r) => r.state },
];

const READING: Reading = {
  up: 7,
  size: undefined,
  byQos: [1, 2, 3],
  byReason: { full: 4, expired: 0 },
  perClient: [
    ['a', 'full', 5],
    ['b', 'full', 0],
    ['c/+', 'full', 9],
  ],
  state: 'ok',
};

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('counters table views', () => {
  it('$SYS: every sys topic and alias in table order, texts formatted, unknown values and unusable label values left out', () => {
    expect(sysView(TABLE, READING)).toEqual([
      ['up', '7 s'],
      ['up/alias', '7 s'],
      ['by/full', '4'],
      ['by/expired', '0'],
      // b has 0 (omitZero); "c/+" holds a wildcard and cannot be a topic level.
      ['c/a/full', '5'],
      ['state', 'ok'],
    ]);
    expect(sysView(TABLE, { ...READING, size: 12 })).toContainEqual(['size', '12']);
  });

  it('JSON: numbers, QoS arrays, one-label records and texts under their keys; json:false rows absent', () => {
    expect(jsonView(TABLE, READING)).toEqual({ up: 7, byQos: [1, 2, 3], byReason: { full: 4, expired: 0 }, state: 'ok' });
  });

  it('stream: fields (counters with their rate name), by-reason groups from number and one-label rows; rows without a place absent', () => {
    const table: CounterTable<Reading> = [
      { key: 'up', kind: 'number', type: 'gauge', help: 'Up', value: (r) => r.up, stream: { field: 'upNow' } },
      { key: 'total', kind: 'number', type: 'counter', help: 'Total', value: (r) => r.byQos[2], stream: { field: 'total', rate: 'totalPerSecond' } },
      { key: 'size', kind: 'number', type: 'gauge', help: 'Size', value: (r) => r.size, stream: { field: 'size' } },
      { key: 'limited', kind: 'number', type: 'counter', help: 'Limited', value: (r) => r.byQos[0], stream: { group: 'refused', label: 'rate limit' } },
      { key: 'byReason', kind: 'labelled', type: 'counter', labels: ['reason'], help: 'By reason', value: (r) => Object.entries(r.byReason).map(([k, n]) => [[k], n] as const), stream: { group: 'refused', prefix: 'reason ' } },
      ...TABLE.slice(4),
    ];
    expect(streamView(table, READING)).toEqual({
      values: { upNow: 7, total: 3 },
      rates: { total: 'totalPerSecond' },
      groups: { refused: { 'rate limit': 1, 'reason full': 4, 'reason expired': 0 } },
    });
    expect(streamView(table, { ...READING, size: 12 }).values).toEqual({ upNow: 7, total: 3, size: 12 });
    expect(streamView(TABLE, READING)).toEqual({ values: {}, rates: {}, groups: {} });
  });

  it('Prometheus: one metric per named row with its help, type and labels, read at scrape time', async () => {
    const registry = new Registry();
    let reading = READING;
    let reads = 0;
    registerCounterTable(registry, TABLE, () => {
      reads++;
      return reading;
    });
    const text = await registry.metrics();
    expect(text).toContain('# HELP t_up Up\n# TYPE t_up gauge');
    expect(text).toContain('# TYPE t_by_qos_total counter');
    expect(sample(text, 't_up')).toBe(7);
    expect([0, 1, 2].map((q) => sample(text, `t_by_qos_total{qos="${q}"}`))).toEqual([1, 2, 3]);
    expect(sample(text, 't_by_reason_total{reason="full"}')).toBe(4);
    expect(sample(text, 't_per_client{client_id="a",reason="full"}')).toBe(5);
    expect(sample(text, 't_per_client{client_id="b",reason="full"}')).toBeUndefined();
    // Labels are free text in Prometheus: the client id a topic could not carry is shown.
    expect(sample(text, 't_per_client{client_id="c/+",reason="full"}')).toBe(9);
    // Texts and rows without a Prometheus name are not metrics.
    expect(text).not.toMatch(/^[^#].*state/m);
    reading = { ...READING, up: 8, byQos: [1, 2, 4], byReason: { full: 5 } };
    const next = await registry.metrics();
    expect(sample(next, 't_up')).toBe(8);
    expect(sample(next, 't_by_qos_total{qos="2"}')).toBe(4);
    // Counters are reset and set from the reading at each scrape, so a reason that vanished goes too.
    expect(sample(next, 't_by_reason_total{reason="expired"}')).toBeUndefined();
    expect(reads).toBeGreaterThan(2);
  });

  it('BrokerMetrics takes one reading per scrape for every metric of the table (one walk of the sessions)', async () => {
    let reads = 0;
    const metrics = new BrokerMetrics({
      table: TABLE,
      read: () => {
        reads++;
        return { ...READING, up: reads };
      },
    });
    const first = await metrics.metrics();
    expect(reads).toBe(1);
    expect(sample(first, 't_up')).toBe(1);
    expect(sample(first, 't_by_qos_total{qos="0"}')).toBe(1);
    // The process's default metrics and the store histogram are there as well.
    expect(first).toMatch(/midge_process_resident_memory_bytes/);
    expect(first).toContain('# TYPE midge_store_batch_seconds histogram');
    expect(sample(await metrics.metrics(), 't_up')).toBe(2);
    expect(reads).toBe(2);
  });
});
