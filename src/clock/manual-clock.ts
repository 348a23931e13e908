/**
 * A clock for tests: time stands still until `advance(ms)`, which fires every callback that falls
 * due on the way, in order of due time (then of scheduling), each seeing `now()` at its own due
 * time. Callbacks scheduled while advancing run too if they fall due before the end.
 */
import type { Cancel, Clock } from './clock.js';

interface Pending {
  readonly at: number;
  readonly order: number;
  readonly fn: () => void;
}

export class ManualClock implements Clock {
  private time: number;
  private scheduled = 0;
  private readonly pending = new Set<Pending>();

  constructor(startAt = 0) {
    this.time = startAt;
  }

  now(): number {
    return this.time;
  }

  after(ms: number, fn: () => void): Cancel {
    const entry: Pending = { at: this.time + Math.max(0, ms), order: this.scheduled++, fn };
    this.pending.add(entry);
    return () => void this.pending.delete(entry);
  }

  /** Moves time forward by `ms`, running what falls due. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (let next = this.nextDue(end); next; next = this.nextDue(end)) {
      this.pending.delete(next);
      this.time = next.at;
      next.fn();
    }
    this.time = end;
  }

  /** How many callbacks wait. */
  get pendingCount(): number {
    return this.pending.size;
  }

  private nextDue(end: number): Pending | undefined {
    let next: Pending | undefined;
    for (const entry of this.pending) {
      if (entry.at > end) continue;
      if (!next || entry.at < next.at || (entry.at === next.at && entry.order < next.order)) next = entry;
    }
    return next;
  }
}
