/**
 * One reading of the broker's counters: what the counters table (counters-table.ts) shows, taken
 * from the broker's parts at once, so that `$SYS`, `/api/v1/stats`, `/metrics` and the stats
 * stream generated from the table read the same figures.
 */
import type { DropReason } from '../session/index.js';
import type { StoreHealth } from '../store/index.js';
import type { BrokerStats } from './stats.js';

/** What a reading is taken from (the Broker supplies it; tests supply fakes). */
export interface CounterSources {
  readonly stats: Readonly<BrokerStats>;
  now(): number;
  /** Clients connected (after CONNACK). */
  connectedClients(): number;
  sessions(): Iterable<{ readonly clientId: string; readonly queuedCount: number; readonly inflightCount: number; readonly dropped: Readonly<Record<DropReason, number>> }>;
  subscriptions(): number;
  retainedMessages(): number;
  storeHealth(): Readonly<StoreHealth>;
  storeBatchesWritten(): number;
  bridges(): ReadonlyArray<{ readonly name: string; readonly isConnected: boolean; readonly queued: number }>;
}

/** One snapshot of every figure the table shows. */
export interface CountersReading {
  readonly stats: Readonly<BrokerStats>;
  readonly uptimeSeconds: number;
  readonly clientsConnected: number;
  readonly sessions: number;
  readonly queued: number;
  readonly inflight: number;
  readonly subscriptions: number;
  readonly retained: number;
  readonly storeHealth: Readonly<StoreHealth>;
  readonly storeBatchesWritten: number;
  /** Read asynchronously, so only the `$SYS` reading has it. */
  readonly storeBytes: number | undefined;
  /** The sessions that dropped the most deliveries (bounded: one label set per session). */
  readonly sessionsDropping: ReadonlyArray<{ readonly clientId: string; readonly dropped: Readonly<Record<DropReason, number>> }>;
  readonly bridges: ReadonlyArray<{ readonly name: string; readonly isConnected: boolean; readonly queued: number }>;
}

/** Sessions listed by name in `$SYS` and /metrics: the ones that dropped the most. */
export const SESSIONS_DROPPING_LIMIT = 100;

/** Takes one reading: the session walk happens here, once. */
export function readCounters(sources: CounterSources, storeBytes?: number): CountersReading {
  let sessions = 0;
  let queued = 0;
  let inflight = 0;
  const dropping: Array<{ clientId: string; dropped: Readonly<Record<DropReason, number>>; total: number }> = [];
  for (const session of sources.sessions()) {
    sessions++;
    queued += session.queuedCount;
    inflight += session.inflightCount;
    const d = session.dropped;
    const total = d['queue-full'] + d['offline-qos0'] + d.expired + d['too-large'];
    if (total > 0) dropping.push({ clientId: session.clientId, dropped: d, total });
  }
  return {
    stats: sources.stats,
    uptimeSeconds: Math.floor((sources.now() - sources.stats.startedAt) / 1000),
    clientsConnected: sources.connectedClients(),
    sessions,
    queued,
    inflight,
    subscriptions: sources.subscriptions(),
    retained: sources.retainedMessages(),
    storeHealth: sources.storeHealth(),
    storeBatchesWritten: sources.storeBatchesWritten(),
    storeBytes,
    sessionsDropping: dropping.sort((a, b) => b.total - a.total).slice(0, SESSIONS_DROPPING_LIMIT),
    bridges: sources.bridges(),
  };
}
