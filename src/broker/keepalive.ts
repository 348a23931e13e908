/**
 * Keep-alive: a client silent for one and a half times its keep-alive is gone [3.1.1 MQTT-3.1.2-24]
 * [5.0 MQTT-3.1.2-22]. One timer for all connections (`KeepAliveSweep`), not one each: every
 * connection's next check time sits in a binary heap and the one timer is armed for the earliest.
 * A check re-files a connection that spoke meanwhile under its last activity + grace (lazily,
 * instead of on every packet), so busy connections cost nothing here. Why one timer: a timer per
 * connection was a Timeout and four closures (~500 bytes) per idle connection, and an
 * arm/cancel per CONNECT and close in a connection storm. The CONNECT timeout of a socket not yet
 * past CONNECT (`ConnectDeadline`) sits in the same heap for the same reason: it was the last
 * timer armed and cancelled per accepted socket.
 */
import type { Cancel, Clock } from '../clock/index.js';

/** Whom a monitor tells that its client fell silent. */
export interface KeepAliveTarget {
  onKeepAliveExpired(): void;
}

/** Whom a deadline tells that CONNECT did not come in time. */
export interface ConnectTimeoutTarget {
  onConnectTimeout(): void;
}

/** One entry of the sweep's heap: due once `graceMs` passed since `lastActivityAt`. */
abstract class SweepEntry {
  lastActivityAt: number;
  /** When the sweep next looks at this entry. */
  checkAt: number;
  /** Position in the sweep's heap; -1 when not in it. */
  heapIndex = -1;

  constructor(
    readonly graceMs: number,
    protected readonly sweep: KeepAliveSweep,
  ) {
    this.lastActivityAt = sweep.clock.now();
    this.checkAt = this.lastActivityAt + graceMs;
    sweep.add(this);
  }

  /** The grace passed without activity. */
  abstract expire(): void;

  stop(): void {
    this.sweep.remove(this);
  }
}

export class KeepAliveMonitor extends SweepEntry {
  constructor(
    readonly keepAliveSeconds: number,
    sweep: KeepAliveSweep,
    readonly target: KeepAliveTarget,
  ) {
    super(keepAliveSeconds * 1500, sweep);
  }

  /** Any packet from the client counts as activity. */
  touch(): void {
    this.lastActivityAt = this.sweep.clock.now();
  }

  expire(): void {
    this.target.onKeepAliveExpired();
  }
}

/**
 * A socket's time to send CONNECT, from when it was accepted. Nothing extends it (a peer that
 * trickles bytes is still held to it); stopped once CONNECT is read or the socket closes.
 */
export class ConnectDeadline extends SweepEntry {
  constructor(
    timeoutMs: number,
    sweep: KeepAliveSweep,
    readonly target: ConnectTimeoutTarget,
  ) {
    super(timeoutMs, sweep);
  }

  expire(): void {
    this.target.onConnectTimeout();
  }
}

/** The broker's one keep-alive timer and the heap of connections (and CONNECT deadlines) by next check time. */
export class KeepAliveSweep {
  private readonly heap: SweepEntry[] = [];
  private cancelTimer: Cancel | undefined;
  /** When the armed timer fires (Infinity: none armed). */
  private timerAt = Infinity;

  constructor(readonly clock: Clock) {}

  get size(): number {
    return this.heap.length;
  }

  add(monitor: SweepEntry): void {
    if (monitor.heapIndex >= 0) return;
    monitor.heapIndex = this.heap.length;
    this.heap.push(monitor);
    this.siftUp(monitor.heapIndex);
    this.arm();
  }

  remove(monitor: SweepEntry): void {
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
        root.expire();
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
