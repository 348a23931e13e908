/**
 * Group commit: store writes made while handling packets are gathered and written as one batch per
 * event-loop turn; acknowledgements wait for the batch that holds their effects. One batch is
 * written at a time and the next one grows while it is written, so under load many messages share
 * one write — which is what keeps "acknowledged = on disk" fast.
 */
import type { Store, StoreOp } from './types.js';

export type CommitCallback = (error: Error | undefined) => void;

/**
 * What sessions and handlers need of the committer: add writes to the current batch, take back
 * one not yet written, and hear when everything added so far is on disk.
 */
export interface CommitLog {
  add(op: StoreOp): void;
  /** Takes back an operation that has not started to be written; returns whether it could. */
  retract(op: StoreOp): boolean;
  /**
   * Names the batch that operations added now go into; it changes when that batch is taken for
   * writing. An operation added under another number can no longer be retracted.
   */
  readonly openBatch: number;
  /** Calls back once everything added before this call is committed, with the error if it failed. */
  afterCommit(callback: CommitCallback): void;
}

/**
 * Whether the store takes writes. A failed batch starts an episode: the batch is kept and retried
 * (acknowledgements waiting for it are withheld, later work queues behind it) until a write
 * succeeds, which ends the episode — a full disk recovers by itself once space returns.
 */
export interface StoreHealth {
  isWritable: boolean;
  /** The error that started the current episode. */
  reason?: string;
  /** Epoch ms the current episode started. */
  since?: number;
  /** Failed write attempts in the current episode. */
  failedAttempts: number;
  /** Episodes since start-up (a metric). */
  episodes: number;
}

export interface GroupCommitOptions {
  /** Told once when an episode starts and once when it ends (log lines, $SYS, /ready). */
  onHealthChange?: (health: Readonly<StoreHealth>, error?: Error) => void;
  /** Wait before the n-th retry (1, 2, …) of a failed batch. */
  retryDelayMs?: (attempt: number) => number;
}

/** `ok`, or why writes fail and since when ($SYS/broker/store/state, /ready, the stats). */
export function describeStoreHealth(health: Readonly<StoreHealth>): string {
  if (health.isWritable) return 'ok';
  return `failing since ${new Date(health.since ?? Date.now()).toISOString()}: ${health.reason ?? 'unknown error'}`;
}

const defaultRetryDelay = (attempt: number): number => Math.min(100 * 2 ** (attempt - 1), 2000);

/**
 * Another place writes of a batch go to besides the store (cluster mode: the engine's node
 * inboxes and views). Acknowledgements wait for every sink of their batch as they wait for the store.
 */
export interface CommitSink {
  hasPending(): boolean;
  /** Takes what was added since the last call, for the batch starting now; resolves once it is committed. */
  takeBatch(): (() => Promise<void>) | undefined;
}

interface Batch {
  ops: StoreOp[];
  callbacks: CommitCallback[];
  sinkWrites?: Array<() => Promise<void>>;
}

export class GroupCommitter implements CommitLog {
  private pending: Batch = { ops: [], callbacks: [] };
  /** Index of `pending.ops` for retract(), filled up to `pendingSetSize`. */
  private pendingSet = new Set<StoreOp>();
  private pendingSetSize = 0;
  private retracted = new Set<StoreOp>();
  private isScheduled = false;
  private isWriting = false;
  private idleWaiters: Array<() => void> = [];
  private batchesWritten = 0;
  private batchesTaken = 0;
  private opsAdded = 0;
  private readonly healthState: StoreHealth = { isWritable: true, failedAttempts: 0, episodes: 0 };
  private isClosing = false;
  /** Ends the wait before the next retry early (close). */
  private wakeRetry: (() => void) | undefined;
  private readonly sinks: CommitSink[] = [];

  constructor(
    private readonly store: Store,
    /** A callback threw (a bug): reported, and the acknowledgements after it still go out. */
    private readonly onWriteError: (error: Error, opCount: number) => void,
    /** Told how long each batch took to write (metrics). */
    private readonly onBatchWritten?: (seconds: number, opCount: number) => void,
    private readonly options: GroupCommitOptions = {},
  ) {}

  get health(): Readonly<StoreHealth> {
    return this.healthState;
  }

  /**
   * Drains for a shutdown: during a failure episode it stops retrying, and what was waiting is
   * told the write failed (those acknowledgements are never sent; the clients resend).
   */
  async close(): Promise<void> {
    this.isClosing = true;
    this.wakeRetry?.();
    await this.drain();
  }

  add(op: StoreOp): void {
    this.opsAdded++;
    this.pending.ops.push(op);
    this.schedule();
  }

  /**
   * Takes back an operation that has not started to be written (a delivery acknowledged before
   * its record reached the disk needs neither the put nor the delete). Returns whether it could.
   */
  retract(op: StoreOp): boolean {
    if (!this.pendingSet.has(op)) {
      // Build the lookup lazily: retractions are asked for in bursts, per batch.
      if (this.pendingSetSize === this.pending.ops.length) return false;
      for (let i = this.pendingSetSize; i < this.pending.ops.length; i++) this.pendingSet.add(this.pending.ops[i]!);
      this.pendingSetSize = this.pending.ops.length;
      if (!this.pendingSet.has(op)) return false;
    }
    this.pendingSet.delete(op);
    this.retracted.add(op);
    return true;
  }

  get openBatch(): number {
    return this.batchesTaken;
  }

  addSink(sink: CommitSink): void {
    this.sinks.push(sink);
  }

  /** A sink took work for the coming batch: count it as added, so acknowledgements wait for it. */
  notePending(): void {
    this.opsAdded++;
    this.schedule();
  }

  /** Calls back once everything added before this call is committed, with the error if it failed. */
  afterCommit(callback: CommitCallback): void {
    this.pending.callbacks.push(callback);
    this.schedule();
  }

  /** Operations added so far: unchanged across a piece of work means it wrote nothing. */
  get addedCount(): number {
    return this.opsAdded;
  }

  get writtenBatchCount(): number {
    return this.batchesWritten;
  }

  /** Resolves when everything added so far has been written (or has failed). */
  drain(): Promise<void> {
    if (!this.isWriting && !this.hasPendingWork()) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.schedule();
    });
  }

  private hasPendingWork(): boolean {
    return this.pending.ops.length > 0 || this.pending.callbacks.length > 0 || this.sinks.some((sink) => sink.hasPending());
  }

  private schedule(): void {
    if (this.isScheduled || this.isWriting) return;
    this.isScheduled = true;
    setImmediate(this.writePending);
  }

  private readonly writePending = (): void => {
    this.isScheduled = false;
    if (this.isWriting) return;
    if (!this.hasPendingWork()) {
      this.notifyIdle();
      return;
    }
    const batch = this.pending;
    this.pending = { ops: [], callbacks: [] };
    this.batchesTaken++;
    if (this.retracted.size > 0) {
      const retracted = this.retracted;
      batch.ops = batch.ops.filter((op) => !retracted.has(op));
      this.retracted = new Set();
    }
    this.pendingSet = new Set();
    this.pendingSetSize = 0;
    for (const sink of this.sinks) {
      const write = sink.takeBatch();
      if (write) (batch.sinkWrites ??= []).push(write);
    }
    this.isWriting = true;
    void this.writeBatch(batch).then(() => {
      this.isWriting = false;
      // What arrived during the write goes out at once as the next batch.
      if (this.hasPendingWork()) this.writePending();
      else this.notifyIdle();
    });
  };

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private async writeBatch(batch: Batch): Promise<void> {
    let failure: Error | undefined;
    if (batch.ops.length > 0 || batch.sinkWrites) {
      // The other sinks (cluster: the engine's inboxes and views) are written alongside the store;
      // the store's own write is retried until it succeeds (a full disk), a sink's is not.
      const sinkResults = Promise.allSettled((batch.sinkWrites ?? []).map((write) => write()));
      const storeFailure = batch.ops.length > 0 ? await this.writeUntilDone(batch.ops) : undefined;
      const rejected = (await sinkResults).find((r): r is PromiseRejectedResult => r.status === 'rejected');
      failure = storeFailure ?? (rejected ? toError(rejected.reason) : undefined);
      if (rejected && !storeFailure) this.onWriteError(failure!, batch.ops.length);
    }
    for (const callback of batch.callbacks) {
      try {
        callback(failure);
      } catch (error) {
        // A callback that throws must not stop the acknowledgements after it.
        this.onWriteError(error instanceof Error ? error : new Error(String(error)), 0);
      }
    }
  }

  /**
   * Writes the batch, retrying a failed one until it succeeds; gives up (returning the error)
   * only when closing. Before each retry the store may reopen itself (LevelDB must not append
   * after a failed log write) or say it is not worth trying yet (still no space).
   */
  private async writeUntilDone(ops: StoreOp[]): Promise<Error | undefined> {
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 || !this.healthState.isWritable) {
        if (this.isClosing) return new Error(`store not writable: ${this.healthState.reason ?? 'closing'}`);
        await this.waitBeforeRetry(attempt);
        if (this.isClosing) return new Error(`store not writable: ${this.healthState.reason ?? 'closing'}`);
        try {
          if (this.store.prepareRetry && !(await this.store.prepareRetry())) continue;
        } catch (error) {
          this.noteFailure(toError(error));
          continue;
        }
      }
      try {
        const startedAt = process.hrtime.bigint();
        await this.store.write(ops);
        this.batchesWritten++;
        this.onBatchWritten?.(Number(process.hrtime.bigint() - startedAt) / 1e9, ops.length);
        if (!this.healthState.isWritable) this.endEpisode();
        return undefined;
      } catch (error) {
        this.noteFailure(toError(error));
      }
    }
  }

  private waitBeforeRetry(attempt: number): Promise<void> {
    const delay = (this.options.retryDelayMs ?? defaultRetryDelay)(Math.max(attempt, 1));
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeRetry = undefined;
        resolve();
      }, delay);
      this.wakeRetry = () => {
        clearTimeout(timer);
        this.wakeRetry = undefined;
        resolve();
      };
    });
  }

  private noteFailure(error: Error): void {
    const health = this.healthState;
    health.failedAttempts++;
    if (!health.isWritable) return;
    health.isWritable = false;
    health.reason = error.message;
    health.since = Date.now();
    health.episodes++;
    this.options.onHealthChange?.(health, error);
  }

  private endEpisode(): void {
    const health = this.healthState;
    health.isWritable = true;
    this.options.onHealthChange?.(health);
    delete health.reason;
    delete health.since;
    health.failedAttempts = 0;
  }
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
