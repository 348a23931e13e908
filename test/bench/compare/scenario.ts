/** What a comparison scenario is: a run against one fresh broker, and how its figures read. */
import type { ClientGroup } from '../lib/client-group.js';
import type { WindowResult } from '../lib/broker-process.js';
import type { PeerLimits, RunningPeer } from '../lib/peers.js';

export interface ScenarioContext {
  peer: RunningPeer;
  version: 4 | 5;
  /** Every client goes through here, so the runner can close them all whatever happens. */
  clients: ClientGroup;
  /** Aborted when the run exceeds the scenario's time cap. */
  signal: AbortSignal;
}

export type Metrics = Record<string, number>;

export interface RunResult {
  metrics: Metrics;
  /** The broker did not do all of it (loss, a cap reached): said in the report, next to the figures. */
  problem?: string;
}

export interface MetricSpec {
  key: string;
  /** Column header in the scenario's table. */
  label: string;
  digits?: number;
  isLowerBetter?: boolean;
}

export interface HeadlineSpec {
  key: string;
  /** The summary table's row name. */
  label: string;
  /** The targets for Midge (level store against Mosquitto; either store against Aedes). */
  target?: { mosquitto?: number; aedes?: number };
  /** A rate the load generator can cap (not a per-CPU-second figure, not RSS): marked † when it was busy. */
  canBeGeneratorBound?: boolean;
}

export interface Scenario {
  /** '1'…'9', as the benchmark issue numbers them. */
  number: string;
  title: string;
  metrics: MetricSpec[];
  headlines: HeadlineSpec[];
  /** A run taking longer is aborted and reported as 'timeout'. */
  capMs: number;
  /** Broker limits for this scenario, instead of the harness's unbounded queues. */
  peerLimits?: PeerLimits;
  run(ctx: ScenarioContext): Promise<RunResult>;
}

/** Throughput figures from a measured interval in which `delivered` messages (of `expected`) arrived. */
export function throughputMetrics(window: WindowResult, delivered: number, expected: number): Metrics {
  return {
    rate: delivered / window.seconds,
    perCpuSecond: delivered / window.brokerCpuSeconds,
    deliveredPercent: (delivered / expected) * 100,
    generatorCpuPercent: (window.generatorCpuSeconds / window.seconds) * 100,
  };
}

/** The generator at or near one core during the timed interval: its figure may be the generator's. */
export const GENERATOR_BUSY_PERCENT = 80;
