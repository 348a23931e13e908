/**
 * Keep-alive: a client silent for one and a half times its keep-alive is gone [3.1.1 MQTT-3.1.2-24]
 * [5.0 MQTT-3.1.2-22]. One timer for all connections (`KeepAliveSweep`), not one each: every
 * connection's next check time sits in a binary heap and the one timer is armed for the earliest.
 * A check re-files a connection that spoke meanwhile under its last activity + grace (lazily,
 * instead of on every packet), so busy connections cost nothing here. Why one timer: a timer per
 * connection was a Timeout and four closures (~500 bytes) per idle connection, and an
 * arm/cancel per CONNECT and close in a connection storm.
 */
import type { Cancel, Clock } from '../clock/index.js';

/** Whom a monitor tells that its client fell silent. */
export interface KeepAliveTarget {
  onKeepAliveExpired(): void;
}

export class KeepAliveMonitor {
  readonly graceMs: number;
  lastActivityAt: number;
  /** When the sweep next looks at this connection. */
  checkAt: number;
  /** Position in the sweep's heap; -1 when not in it. */
  heapIndex = -1;

  constructor(
    readonly keepAliveSeconds: number,
    private readonly sweep: KeepAliveSweep,
    readonly target: KeepAliveTarget,
  ) {
    this.graceMs = keepAliveSeconds * 1500;
    this.lastActivityAt = sweep.clock.now();
    this.checkAt = this.lastActivityAt + this.graceMs;
    sweep.add(this);
  }

  /** Any packet from the client counts as activity. */
  touch(): void {
    this.lastActivityAt = this.sweep.clock.now();
  }

  stop(): void {
    this.sweep.remove(this);
  }
}

/** The broker's one keep-alive timer and the heap of connections by next check time. */
export class KeepAliveSweep {
  private readonly heap: KeepAliveMonitor[] = [];
  private cancelTimer: Cancel | undefined;
  /** When the armed timer fires (Infinity: none armed). */
  private timerAt = Infinity;

  constructor(readonly clock: Clock) {}

  get size(): number {
    return this.heap.length;
  }

  add(monitor: KeepAliveMonitor): void {
    if (monitor.heapIndex >= 0) return;
    monitor.heapIndex = this.heap.length;
    this.heap.push(monitor);
    this.siftUp(monitor.heapIndex);
    this.arm();
  }

  remove(monitor: KeepAliveMonitor): void {
    const index = monitor.heapIndex;
    if (index < 0) return;
    monitor.heapIndex = -1;
    const last = this.heap.pop()!;
    if (last !== monitor) {
      this.heap[index] = last;
      last.heapIndex = index;
      this.siftDown(index);
      this.siftUp(last.heapIndex);
    }
    if (this.heap.length === 0) this.disarm();
  }

  /** Every connection due by now: expired ones are told, the others re-filed. */
  private readonly check = (): void => {
    this.cancelTimer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    for (let root = this.heap[0]; root !== undefined && root.checkAt <= now; root = this.heap[0]) {
      if (now - root.lastActivityAt >= root.graceMs) {
        this.remove(root);
        root.target.onKeepAliveExpired();
      } else {
        root.checkAt = root.lastActivityAt + root.graceMs;
        this.siftDown(0);
      }
    }
    this.arm();
  };

  /** The timer at the earliest check time, re-armed only when that moved earlier. */
  private arm(): void {
    const root = this.heap[0];
    if (root === undefined || root.checkAt >= this.timerAt) return;
    this.disarm();
    this.timerAt = root.checkAt;
    this.cancelTimer = this.clock.after(root.checkAt - this.clock.now(), this.check);
  }

  private disarm(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.timerAt = Infinity;
  }

  private siftUp(index: number): void {
    const heap = this.heap;
    const item = heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (parent.checkAt <= item.checkAt) break;
      heap[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    heap[index] = item;
    item.heapIndex = index;
  }

  private siftDown(index: number): void {
    const heap = this.heap;
    const length = heap.length;
    const item = heap[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && heap[right]!.checkAt < heap[left]!.checkAt ? right : left;
      if (heap[child]!.checkAt >= item.checkAt) break;
      heap[index] = heap[child]!;
      heap[index]!.heapIndex = index;
      index = child;
    }
    heap[index] = item;
    item.heapIndex = index;
  }
}
