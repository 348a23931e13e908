/**
 * Group commit: store writes made while handling packets are gathered and written as one batch per
 * event-loop turn; acknowledgements wait for the batch that holds their effects. One batch is
 * written at a time and the next one grows while it is written, so under load many messages share
 * one write — which is what keeps "acknowledged = on disk" fast.
 */
import type { Store, StoreOp } from './types.js';

export type CommitCallback = (error: Error | undefined) => void;

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

export class GroupCommitter {
  private pending: Batch = { ops: [], callbacks: [] };
  /** Index of `pending.ops` for retract(), filled up to `pendingSetSize`. */
  private pendingSet = new Set<StoreOp>();
  private pendingSetSize = 0;
  private retracted = new Set<StoreOp>();
  private isScheduled = false;
  private isWriting = false;
  private idleWaiters: Array<() => void> = [];
  private batchesWritten = 0;
  private opsAdded = 0;
  private readonly sinks: CommitSink[] = [];

  constructor(
    private readonly store: Store,
    private readonly onWriteError: (error: Error, opCount: number) => void,
    /** Told how long each batch took to write (metrics). */
    private readonly onBatchWritten?: (seconds: number, opCount: number) => void,
  ) {}

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
      try {
        const startedAt = process.hrtime.bigint();
        const writes: Array<Promise<void>> = batch.ops.length > 0 ? [this.store.write(batch.ops)] : [];
        for (const write of batch.sinkWrites ?? []) writes.push(write());
        const results = await Promise.allSettled(writes);
        const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (rejected) throw rejected.reason;
        this.batchesWritten++;
        this.onBatchWritten?.(Number(process.hrtime.bigint() - startedAt) / 1e9, batch.ops.length);
      } catch (error) {
        failure = error instanceof Error ? error : new Error(String(error));
        this.onWriteError(failure, batch.ops.length);
      }
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
}
