/**
 * The views of the counters table — `$SYS`, /api/v1/stats, /metrics and the dashboard's stats
 * stream (with /api/v1/overview) — against a live broker after traffic through every ingest path:
 * each row appears in every view it declares, with the same value in each, nothing in `$SYS` or the
 * stream comes from outside the table, and the stream's samples have the dashboard's fields.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { BROKER_COUNTERS } from '../../src/broker/counters-table.js';
import type { StatsSample as DashboardSample } from '../../src/dashboard/api-types.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient, connectCollecting, RawClient } from '../helpers/clients.js';

const TOKEN = 'counters-token-0123456789';
const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
let tb: TestBroker | undefined;
afterAll(async () => {
  await closeAllClients();
  await tb?.cleanup();
});

function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}="${v}"`);
  return parts.length === 0 ? name : `${name}{${parts.join(',')}}`;
}

/** Prometheus text → series key → value, and the metric names that have a TYPE line. */
function parsePrometheus(text: string): { series: Map<string, number>; families: Set<string> } {
  const series = new Map<string, number>();
  const families = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type) families.add(type[1]!);
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[pair[1]!] = pair[2]!;
    series.set(seriesKey(match[1]!, labels), Number(match[3]));
  }
  return { series, families };
}

interface Views {
  json: Record<string, unknown>;
  prom: ReturnType<typeof parsePrometheus>;
  sys: Map<string, string>;
}

async function readViews(base: string): Promise<Views> {
  const json = (await (await fetch(`${base}/api/v1/stats`, auth)).json()) as Record<string, unknown>;
  const prom = parsePrometheus(await (await fetch(`${base}/metrics`, auth)).text());
  // The retained $SYS topics through the admin API: no $SYS subscriber, so reading them sends nothing.
  const retained = (await (await fetch(`${base}/api/v1/retained?topic=${encodeURIComponent('$SYS/broker/#')}`, auth)).json()) as Array<{ topic: string; payloadBase64: string }>;
  const sys = new Map(retained.map((r) => [r.topic.slice('$SYS/broker/'.length), Buffer.from(r.payloadBase64, 'base64').toString()]));
  return { json, prom, sys };
}

function fill(template: string, labels: readonly string[], values: readonly string[]): string {
  let topic = template;
  labels.forEach((label, i) => (topic = topic.replace(`{${label}}`, values[i]!)));
  return topic;
}

/** Every way the views disagree with the table or with each other; empty when they agree. */
function disagreements({ json, prom, sys }: Views): string[] {
  const out: string[] = [];
  const accountedSys = new Set<string>();
  const expectSys = (topic: string, text: string, row: string): void => {
    accountedSys.add(topic);
    if (!sys.has(topic)) out.push(`${row}: $SYS ${topic} missing`);
    else if (sys.get(topic) !== text) out.push(`${row}: $SYS ${topic} = ${sys.get(topic)}, expected ${text}`);
  };
  const expectProm = (key: string, value: number, row: string): void => {
    if (!prom.series.has(key)) out.push(`${row}: /metrics ${key} missing`);
    else if (prom.series.get(key) !== value) out.push(`${row}: /metrics ${key} = ${prom.series.get(key)}, expected ${value}`);
  };
  for (const row of BROKER_COUNTERS) {
    const inJson = row.json !== false;
    if (inJson && !(row.key in json)) out.push(`${row.key}: missing from /api/v1/stats`);
    if (row.kind !== 'text' && row.prometheus && !prom.families.has(row.prometheus)) out.push(`${row.key}: /metrics has no ${row.prometheus}`);
    switch (row.kind) {
      case 'text': {
        const value = json[row.key] as string;
        for (const suffix of row.sys ?? []) expectSys(suffix, row.sysText ? row.sysText(value) : value, row.key);
        break;
      }
      case 'number': {
        // The reference: JSON, else /metrics, else $SYS itself (a $SYS-only row is checked for presence).
        const reference = inJson ? (json[row.key] as number) : row.prometheus ? prom.series.get(row.prometheus) : Number(sys.get(row.sys?.[0] ?? ''));
        if (reference === undefined || Number.isNaN(reference)) {
          out.push(`${row.key}: no value in any view`);
          break;
        }
        if (row.key === 'uptimeSeconds') {
          // Moves with time: $SYS was read up to an interval earlier.
          accountedSys.add('uptime');
          const sysUptime = Number(/^(\d+) seconds$/.exec(sys.get('uptime') ?? '')?.[1]);
          if (!(reference - sysUptime >= 0 && reference - sysUptime <= 3)) out.push(`uptime: $SYS ${sys.get('uptime')} vs JSON ${reference}`);
          break;
        }
        for (const suffix of row.sys ?? []) expectSys(suffix, row.sysText ? row.sysText(reference) : String(reference), row.key);
        if (row.prometheus) expectProm(row.prometheus, reference, row.key);
        break;
      }
      case 'qos': {
        const values = json[row.key] as number[];
        if (!Array.isArray(values) || values.length !== 3) out.push(`${row.key}: not three numbers in /api/v1/stats`);
        else if (row.prometheus) values.forEach((n, qos) => expectProm(seriesKey(row.prometheus!, { qos: String(qos) }), n, row.key));
        break;
      }
      case 'labelled': {
        // The reference: the JSON record (one label), else the /metrics series of the row.
        const entries: Array<[string[], number]> = inJson
          ? Object.entries(json[row.key] as Record<string, number>).map(([k, n]) => [[k], n])
          : [...prom.series]
              .filter(([key]) => key === row.prometheus || key.startsWith(`${row.prometheus}{`))
              .map(([key, n]) => {
                const labels = Object.fromEntries([...key.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
                return [row.labels.map((l) => labels[l]!), n];
              });
        for (const [values, n] of entries) {
          if (row.omitZero && n === 0) continue;
          if (row.prometheus && inJson) expectProm(seriesKey(row.prometheus, Object.fromEntries(row.labels.map((l, i) => [l, values[i]!]))), n, row.key);
          if (row.sys) expectSys(fill(row.sys, row.labels, values), String(n), row.key);
        }
        if (row.sys && entries.filter(([, n]) => !(row.omitZero && n === 0)).length === 0) out.push(`${row.key}: nothing to show in $SYS (the traffic should have made some)`);
        break;
      }
    }
  }
  // $SYS has nothing from outside the table except the load averages derived from two of its rows.
  for (const topic of sys.keys()) if (!accountedSys.has(topic) && !topic.startsWith('load/messages/')) out.push(`$SYS ${topic} is in no row of the table`);
  return out;
}

/** The dashboard's sample fields; `satisfies` fails the type check when its StatsSample gains or loses one. */
const DASHBOARD_SAMPLE_FIELDS = Object.keys({
  at: true,
  messagesInPerSecond: true,
  messagesOutPerSecond: true,
  bytesInPerSecond: true,
  bytesOutPerSecond: true,
  connections: true,
  sessions: true,
  subscriptions: true,
  retained: true,
  queued: true,
  inflight: true,
  dropped: true,
  refused: true,
  droppedPerSecond: true,
  refusedPerSecond: true,
} satisfies Record<keyof DashboardSample, true>).sort();

type Sample = Record<string, number | Record<string, number>>;

interface StreamViews {
  json: Record<string, unknown>;
  overview: Record<string, unknown>;
  history: Sample[];
}

async function readStreamViews(base: string): Promise<StreamViews> {
  const read = async (route: string): Promise<any> => (await fetch(`${base}${route}`, auth)).json();
  // The sampled views first: the JSON then is at least as late as the last sample.
  const history = (await read('/api/v1/stats/history')) as Sample[];
  const overview = (await read('/api/v1/overview')) as Record<string, unknown>;
  return { json: (await read('/api/v1/stats')) as Record<string, unknown>, overview, history };
}

/** Σ rate × interval over the history: what a counter grew by since the first sample. */
function integral(history: readonly Sample[], rateField: string): number {
  let total = 0;
  for (let i = 1; i < history.length; i++) total += ((history[i]![rateField] as number) * ((history[i]!.at as number) - (history[i - 1]!.at as number))) / 1000;
  return total;
}

/**
 * Every way the stream and the overview disagree with the table's JSON view; empty when they agree.
 * Needs a history whose first sample was taken before any traffic (every counter 0 then).
 */
function streamDisagreements({ json, overview, history }: StreamViews): string[] {
  const out: string[] = [];
  const latest = history[history.length - 1];
  if (!latest) return ['no sample yet'];
  const expected = new Set(['at']);
  const expectSame = (where: string, actual: unknown, value: unknown, row: string): void => {
    if (actual !== value) out.push(`${row}: ${where} = ${String(actual)}, expected ${String(value)}`);
  };
  const groupTotals = new Map<string, number>();
  const inGroup = (group: string, label: string, n: number, row: string): void => {
    expected.add(group).add(`${group}PerSecond`);
    groupTotals.set(group, (groupTotals.get(group) ?? 0) + n);
    expectSame(`overview ${group}[${label}]`, (overview[group] as Record<string, number> | undefined)?.[label], n, row);
    expectSame(`sample ${group}[${label}]`, (latest[group] as Record<string, number> | undefined)?.[label], n, row);
  };
  for (const row of BROKER_COUNTERS) {
    if ((row.kind !== 'number' && row.kind !== 'labelled') || !row.stream) continue;
    if (row.json === false) {
      out.push(`${row.key}: in the stream but not in /api/v1/stats`);
      continue;
    }
    if (row.kind === 'labelled') {
      for (const [label, n] of Object.entries(json[row.key] as Record<string, number>)) inGroup(row.stream.group, (row.stream.prefix ?? '') + label, n, row.key);
      continue;
    }
    const value = json[row.key] as number;
    const place = row.stream;
    if ('group' in place) {
      inGroup(place.group, place.label, value, row.key);
      continue;
    }
    expectSame(`overview ${place.field}`, overview[place.field], value, row.key);
    if (place.rate === undefined) {
      expected.add(place.field);
      expectSame(`sample ${place.field}`, latest[place.field], value, row.key);
    } else {
      expected.add(place.rate);
      const grown = integral(history, place.rate);
      if (Math.abs(grown - value) > 1e-6 * Math.max(1, value)) out.push(`${row.key}: Σ ${place.rate} × interval = ${grown}, expected ${value}`);
    }
  }
  for (const [group, total] of groupTotals) {
    const grown = integral(history, `${group}PerSecond`);
    if (Math.abs(grown - total) > 1e-6 * Math.max(1, total)) out.push(`${group}: Σ ${group}PerSecond × interval = ${grown}, expected ${total}`);
    const entries = Object.keys(latest[group] as Record<string, number>).length;
    const declared = Object.keys(overview[group] as Record<string, number>).length;
    if (entries !== declared) out.push(`${group}: ${entries} entries in the sample, ${declared} in the overview`);
  }
  for (const field of Object.keys(latest)) if (!expected.has(field)) out.push(`sample field ${field} is in no row of the table`);
  for (const field of expected) if (!(field in latest)) out.push(`sample field ${field} missing`);
  return out;
}

describe('counters table views on a live broker', () => {
  it('$SYS, /api/v1/stats and /metrics show every row they declare, with the same values, after traffic on every ingest path', async () => {
    tb = await startBroker({ store: { type: 'level' }, http: { enabled: true, host: '127.0.0.1', port: 0, token: TOKEN }, sys: { interval: 1 } });
    const base = `http://127.0.0.1:${tb.broker.httpBoundAddress!.port}`;
    // The stream's first sample before any traffic: its rates then add up to the counters.
    await expect.poll(async () => (await readStreamViews(base)).history.length, { timeout: 30_000, interval: 100 }).toBeGreaterThan(0);
    expect((await readStreamViews(base)).history[0]).toMatchObject({ messagesInPerSecond: 0, connections: 0 });
    const { client: sub, collector } = await connectCollecting(tb.url, { clientId: 'v-sub' });
    await sub.subscribeAsync('v/#', { qos: 1 });
    // An offline persistent session with a QoS 0 subscription: what reaches it is dropped (offline-qos0).
    const away = await connectClient(tb.url, { clientId: 'v-away', clean: false });
    await away.subscribeAsync('v/#', { qos: 0 });
    await away.endAsync();

    // Client PUBLISH: 2 at QoS 0, 3 at QoS 1, 1 at QoS 2 (payload bytes 1+1+2+2+2+2).
    const pub = await connectClient(tb.url, { clientId: 'v-pub', protocolVersion: 5 });
    for (const payload of ['a', 'b']) await pub.publishAsync('v/q0', payload, { qos: 0 });
    for (const payload of ['c1', 'c2', 'c3']) await pub.publishAsync('v/q1', payload, { qos: 1 });
    await pub.publishAsync('v/q2', 'dd', { qos: 2, retain: true });
    // A will at QoS 1 (4 bytes), published when the connection drops without DISCONNECT.
    const device = await RawClient.connect(tb.port, { clientId: 'v-dev', will: { topic: 'v/will', payload: Buffer.from('gone'), qos: 1, retain: false } });
    device.destroy();
    // The publish API, as connectors and bridges publish (3 bytes at QoS 2).
    const posted = await fetch(`${base}/api/v1/publish`, { method: 'POST', headers: { ...auth.headers, 'content-type': 'application/json' }, body: JSON.stringify({ topic: 'v/api', payload: 'cmd', qos: 2 }) });
    expect(posted.status).toBe(200);
    // A refused CONNECT (0x85: a client id only the broker's own sessions may take).
    expect(await connectClient(tb.url, { clientId: '$bridge/not-yours' }).catch(() => undefined)).toBeUndefined();
    await collector.waitFor(8, 20_000);

    // The views are taken at slightly different moments ($SYS once a second): poll until the
    // traffic has settled and a $SYS round has followed it; views that disagree never get there.
    await expect.poll(async () => disagreements(await readViews(base)), { timeout: 30_000, interval: 250 }).toEqual([]);
    const { json, prom, sys } = await readViews(base);
    // One ingest count: 6 client messages, the will and the API's command, by QoS alike.
    expect(json.messagesReceived).toBe(8);
    expect(json.messagesReceivedByQos).toEqual([2, 4, 2]);
    expect(json.publishBytesReceived).toBe(10 + 4 + 3);
    expect(sys.get('publish/messages/received')).toBe('8');
    expect([0, 1, 2].reduce((n, qos) => n + prom.series.get(seriesKey('midge_messages_received_total', { qos: String(qos) }))!, 0)).toBe(8);
    expect(json.connectsRefusedByReason).toEqual({ '0x85': 1 });
    expect(Number(sys.get('sessions/v-away/dropped/offline-qos0'))).toBeGreaterThan(0);
    expect(Number(sys.get('store/size'))).toBeGreaterThan(0);

    // The stream and the overview: a sample after the traffic settled agrees with the JSON view.
    await expect.poll(async () => streamDisagreements(await readStreamViews(base)), { timeout: 30_000, interval: 250 }).toEqual([]);
    const { history, overview } = await readStreamViews(base);
    const latest = history[history.length - 1]!;
    expect(Object.keys(latest).sort()).toEqual(DASHBOARD_SAMPLE_FIELDS);
    expect(overview.messagesReceived).toBe(8);
    expect(latest.refused).toMatchObject({ 'connect 0x85': 1, 'connect rate limit': 0, 'publish throttled': 0, 'retained store full': 0, 'protocol violation': 0 });
    expect(integral(history, 'messagesInPerSecond')).toBeCloseTo(8, 6);
  }, 60_000);
});
