/** The broker's counters table and its readings, without a socket or a broker. */
import { describe, expect, it } from 'vitest';
import { BROKER_COUNTERS } from '../../src/broker/counters-table.js';
import { readCounters, SESSIONS_DROPPING_LIMIT, type CounterSources } from '../../src/broker/counters.js';
import { BrokerStats } from '../../src/broker/stats.js';
import { jsonView, sysView } from '../../src/observability/index.js';

type Dropped = { 'queue-full': number; 'offline-qos0': number; expired: number; 'too-large': number };
const noDrops = (): Dropped => ({ 'queue-full': 0, 'offline-qos0': 0, expired: 0, 'too-large': 0 });

function fakeSources(overrides: Partial<CounterSources> = {}): CounterSources {
  const stats = new BrokerStats(1_000_000);
  return {
    stats,
    now: () => 1_012_345,
    connectedClients: () => 1,
    sessions: () => [
      { clientId: 'a', queuedCount: 2, inflightCount: 1, dropped: { ...noDrops(), 'queue-full': 3 } },
      { clientId: 'b', queuedCount: 5, inflightCount: 0, dropped: { ...noDrops(), 'offline-qos0': 7, expired: 1 } },
      { clientId: 'c', queuedCount: 0, inflightCount: 4, dropped: noDrops() },
    ],
    subscriptions: () => 6,
    retainedMessages: () => 2,
    storeHealth: () => ({ isWritable: true, failedAttempts: 0, episodes: 1 }),
    storeBatchesWritten: () => 9,
    bridges: () => [{ name: 'up', isConnected: true, queued: 3 }],
    ...overrides,
  };
}

/** Names earlier releases published: tests, the dashboard, scripts and scrapers read them. */
const KEPT_JSON = [
  'version', 'uptimeSeconds', 'clientsConnected', 'clientsMaximum', 'sessions', 'queuedMessages', 'inflightMessages', 'subscriptions',
  'retainedMessages', 'connectsTotal', 'disconnectsByReason', 'messagesReceived', 'messagesSent', 'messagesReceivedByQos', 'messagesSentByQos',
  'bytesReceived', 'bytesSent', 'dropped', 'protocolViolations', 'retainedRefused', 'publishThrottled', 'connectsRateLimited', 'storeBatchesWritten', 'storeState',
];
const KEPT_PROMETHEUS = [
  'midge_connections', 'midge_connects_total', 'midge_connects_refused_total', 'midge_disconnects_total', 'midge_messages_received_total',
  'midge_messages_sent_total', 'midge_bytes_received_total', 'midge_bytes_sent_total', 'midge_messages_dropped_total', 'midge_session_dropped_messages',
  'midge_sessions', 'midge_queued_messages', 'midge_inflight_messages', 'midge_retained_messages', 'midge_subscriptions', 'midge_bridge_connected',
  'midge_bridge_queued_messages', 'midge_store_writable', 'midge_store_write_failure_episodes_total',
];
const KEPT_SYS = [
  'version', 'uptime', 'clients/connected', 'clients/active', 'clients/disconnected', 'clients/inactive', 'clients/total', 'clients/maximum',
  'messages/received', 'messages/sent', 'publish/messages/received', 'publish/messages/sent', 'bytes/received', 'bytes/sent', 'subscriptions/count',
  'retained messages/count', 'store/size', 'messages/dropped/{reason}', 'sessions/{client_id}/dropped/{reason}', 'store/state',
];

describe('the counters table', () => {
  it('names each figure once: unique keys, $SYS topics and Prometheus names', () => {
    const keys = BROKER_COUNTERS.map((r) => r.key);
    const sys = BROKER_COUNTERS.flatMap((r) => (r.kind === 'qos' || !r.sys ? [] : typeof r.sys === 'string' ? [r.sys] : r.sys));
    const prometheus = BROKER_COUNTERS.flatMap((r) => (r.kind !== 'text' && r.prometheus ? [r.prometheus] : []));
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(sys).size).toBe(sys.length);
    expect(new Set(prometheus).size).toBe(prometheus.length);
    for (const row of BROKER_COUNTERS) expect(row.help.length, row.key).toBeGreaterThan(5);
  });

  it('Prometheus names follow the conventions: midge_ prefix, counters end in _total', () => {
    for (const row of BROKER_COUNTERS) {
      if (row.kind === 'text' || !row.prometheus) continue;
      expect(row.prometheus, row.key).toMatch(/^midge_[a-z_]+$/);
      if (row.type === 'counter') expect(row.prometheus, row.key).toMatch(/_total$/);
      else expect(row.prometheus, row.key).not.toMatch(/_total$/);
    }
  });

  it('keeps every name an earlier release published, in the view it was published in', () => {
    const json = BROKER_COUNTERS.filter((r) => r.json !== false).map((r) => r.key);
    const prometheus = BROKER_COUNTERS.flatMap((r) => (r.kind !== 'text' && r.prometheus ? [r.prometheus] : []));
    const sys = BROKER_COUNTERS.flatMap((r) => (r.kind === 'qos' || !r.sys ? [] : typeof r.sys === 'string' ? [r.sys] : r.sys));
    expect(json).toEqual(expect.arrayContaining(KEPT_JSON));
    expect(prometheus).toEqual(expect.arrayContaining(KEPT_PROMETHEUS));
    expect(sys).toEqual(expect.arrayContaining(KEPT_SYS));
  });

  it('a row without a view is a mistake: every row is in at least one', () => {
    for (const row of BROKER_COUNTERS) {
      const views = [row.json !== false, row.kind !== 'qos' && row.sys !== undefined, row.kind !== 'text' && row.prometheus !== undefined];
      expect(views.some(Boolean), row.key).toBe(true);
    }
  });
});

describe('a reading', () => {
  it('walks the sessions once for totals and the sessions that dropped, and measures uptime on the given clock', () => {
    const r = readCounters(fakeSources());
    expect(r).toMatchObject({ sessions: 3, queued: 7, inflight: 5, clientsConnected: 1, subscriptions: 6, retained: 2, storeBatchesWritten: 9, uptimeSeconds: 12 });
    // Most drops first; a session that dropped nothing is not listed.
    expect(r.sessionsDropping.map((s) => s.clientId)).toEqual(['b', 'a']);
    expect(r.storeBytes).toBeUndefined();
    expect(readCounters(fakeSources(), 4096).storeBytes).toBe(4096);
  });

  it(`lists at most ${SESSIONS_DROPPING_LIMIT} sessions that dropped`, () => {
    const many = Array.from({ length: SESSIONS_DROPPING_LIMIT + 20 }, (_, i) => ({ clientId: `s${i}`, queuedCount: 0, inflightCount: 0, dropped: { ...noDrops(), expired: i + 1 } }));
    const r = readCounters(fakeSources({ sessions: () => many }));
    expect(r.sessionsDropping).toHaveLength(SESSIONS_DROPPING_LIMIT);
    expect(r.sessionsDropping[0]!.clientId).toBe(`s${SESSIONS_DROPPING_LIMIT + 19}`);
  });

  it('renders into the JSON and $SYS views with the same figures', () => {
    const sources = fakeSources();
    sources.stats.countReceived(1, 10);
    sources.stats.countReceived(0, 5);
    const reading = readCounters(sources, 100);
    const json = jsonView(BROKER_COUNTERS, reading);
    const sys = new Map(sysView(BROKER_COUNTERS, reading));
    expect(json).toMatchObject({ messagesReceived: 2, messagesReceivedByQos: [1, 1, 0], publishBytesReceived: 15, sessions: 3, clientsDisconnected: 2, storeState: 'ok', storeWriteFailureEpisodes: 1 });
    expect(json).not.toHaveProperty('storeBytes');
    expect(sys.get('messages/received')).toBe('2');
    expect(sys.get('publish/messages/received')).toBe('2');
    expect(sys.get('publish/bytes/received')).toBe('15');
    expect(sys.get('uptime')).toBe('12 seconds');
    expect(sys.get('store/size')).toBe('100');
    expect(sys.get('sessions/b/dropped/offline-qos0')).toBe('7');
    expect(sys.get('sessions/a/dropped/queue-full')).toBe('3');
    expect(sys.has('sessions/a/dropped/expired')).toBe(false);
    expect(sys.get('version')).toMatch(/^midge version \d/);
  });
});

describe('the one ingest count', () => {
  it('counts a message, its QoS and its payload bytes together', () => {
    const stats = new BrokerStats(0);
    stats.countReceived(0, 3);
    stats.countReceived(2, 4);
    stats.countReceived(2, 0);
    expect(stats.messagesReceived).toBe(3);
    expect(stats.messagesReceivedByQos).toEqual([1, 0, 2]);
    expect(stats.publishBytesReceived).toBe(7);
  });
});
