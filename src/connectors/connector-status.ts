/**
 * What a sink connector reports (GET /api/v1/connectors, /metrics, $SYS): its state and the
 * counters its delivery loop keeps. Counting lives here so the loop only says what happened.
 */
import type { ServiceStatus } from '../broker/index.js';
import type { SinkConnectorConfig } from '../config/index.js';
import type { DropReason } from '../session/index.js';
import type { SinkErrorClass } from './errors.js';

export type ConnectorState = 'starting' | 'running' | 'backing-off' | 'paused' | 'stopped';

/** Who paused a connector: the operator (admin API) or the backend (a configuration error). */
export type PausedBy = 'operator' | 'configuration';

export interface ConnectorStatus extends ServiceStatus {
  kind: 'connector';
  type: SinkConnectorConfig['type'];
  state: ConnectorState;
  /** Why it is paused (a configuration error, or "paused by the admin API"). */
  pausedReason: string | null;
  /** Who paused it; null while it is not paused. */
  pausedBy: PausedBy | null;
  delivered: number;
  /** Messages sent again after a transient or data error. */
  retried: number;
  /** Failed sends by error class. */
  failed: Record<SinkErrorClass, number>;
  deadLettered: number;
  dropped: number;
  droppedByReason: Partial<Record<DropReason, number>>;
  batches: number;
  batchSecondsSum: number;
  lastBatchSeconds: number;
  /** Age of the oldest message the connector holds unconfirmed, seconds (0 when none). */
  oldestAgeSeconds: number;
}

/** The counters of one sink connector. */
export class ConnectorCounters {
  delivered = 0;
  retried = 0;
  readonly failed: Record<SinkErrorClass, number> = { transient: 0, configuration: 0, data: 0 };
  deadLettered = 0;
  dropped = 0;
  readonly droppedByReason: Partial<Record<DropReason, number>> = {};
  batches = 0;
  batchSecondsSum = 0;
  lastBatchSeconds = 0;

  /** Counts a drop; returns how many of this reason so far (the caller logs the first of each thousand). */
  countDrop(reason: DropReason): number {
    this.dropped++;
    return (this.droppedByReason[reason] = (this.droppedByReason[reason] ?? 0) + 1);
  }

  observeBatch(seconds: number): void {
    this.batches++;
    this.batchSecondsSum += seconds;
    this.lastBatchSeconds = seconds;
  }

  /** A copy for a status (the live objects are not handed out). */
  snapshot(): Pick<ConnectorStatus, 'delivered' | 'retried' | 'failed' | 'deadLettered' | 'dropped' | 'droppedByReason' | 'batches' | 'batchSecondsSum' | 'lastBatchSeconds'> {
    return {
      delivered: this.delivered,
      retried: this.retried,
      failed: { ...this.failed },
      deadLettered: this.deadLettered,
      dropped: this.dropped,
      droppedByReason: { ...this.droppedByReason },
      batches: this.batches,
      batchSecondsSum: this.batchSecondsSum,
      lastBatchSeconds: this.lastBatchSeconds,
    };
  }
}

/**
 * A connector's state, whether it is paused and by whom and why, and their retained $SYS topics:
 * `$SYS/broker/connector/<name>/state` (running | backing-off | paused | stopped) and
 * `…/paused-by` (operator | configuration | none).
 */
export class ConnectorStateCell {
  private current: ConnectorState = 'starting';
  private reason: string | null = null;
  private isByOperator = false;
  private shownPausedBy: string | undefined;

  constructor(
    private readonly name: string,
    private readonly publishStatus: (topic: string, payload: string) => void,
  ) {}

  get state(): ConnectorState {
    return this.current;
  }

  get pausedReason(): string | null {
    return this.reason;
  }

  get isPausedByOperator(): boolean {
    return this.isByOperator;
  }

  get pausedBy(): PausedBy | null {
    return this.current !== 'paused' ? null : this.isByOperator ? 'operator' : 'configuration';
  }

  set(state: ConnectorState): void {
    if (this.current !== state) {
      this.current = state;
      this.publishStatus(`$SYS/broker/connector/${this.name}/state`, state);
    }
    const pausedBy = this.pausedBy ?? 'none';
    if (this.shownPausedBy === pausedBy) return;
    this.shownPausedBy = pausedBy;
    this.publishStatus(`$SYS/broker/connector/${this.name}/paused-by`, pausedBy);
  }

  /** The operator's pause (also over a configuration pause: it is then the operator's). */
  pauseByOperator(): void {
    this.isByOperator = true;
    this.reason = 'paused by the admin API';
    this.set('paused');
  }

  /** The backend refused the configuration; returns whether that is news (not paused before). */
  pauseByConfiguration(reason: string): boolean {
    const isNew = this.current !== 'paused';
    this.reason = reason;
    this.set('paused');
    return isNew;
  }

  /** The operator's resume: running again (a configuration error will pause it anew). */
  resumeByOperator(): void {
    this.isByOperator = false;
    if (this.current === 'paused') this.set('running');
    this.reason = null;
  }

  /** A send succeeded: out of backing-off or a configuration pause; returns the state it left, if any. */
  recover(): 'backing-off' | 'paused' | undefined {
    const from = this.current;
    if (from !== 'backing-off' && !(from === 'paused' && !this.isByOperator)) return undefined;
    this.reason = null;
    this.set('running');
    return from;
  }
}
