/**
 * A session's queue of deliveries waiting for a window slot or for the client to return: a bounded
 * FIFO. Every operation the hot path uses is O(1) — in particular making room at the bound: the
 * oldest QoS 0 delivery is found through its own FIFO instead of a scan of the whole queue (the
 * scan was 43% of the broker's CPU once a slow consumer's queue reached 100,000).
 */
import type { OutgoingRecord } from '../store/index.js';

/** What a full queue does with one more delivery, once no QoS 0 delivery is left to make room. */
export type OverflowPolicy = 'refuse-newest' | 'drop-oldest';

export interface QueueBounds {
  maxMessages: number;
  maxBytes: number;
}

/** Why `offer` refused or removed a delivery. */
export type EvictionKind = 'qos0-evicted' | 'oldest-dropped' | 'newest-refused';

export class DeliveryQueue {
  /** Records in arrival order from `head` on; evicted QoS 0 ones stay as tombstones until reached. */
  private items: OutgoingRecord[] = [];
  /**
   * When each of `items` joined the queue in this process (the admin API's "age of the oldest
   * queued"), index for index: an array beside it, not a WeakMap, which cost 8% of the broker's
   * CPU on the QoS 1 path where every delivery passes through the queue.
   */
  private queuedAt: number[] = [];
  private head = 0;
  /** The queued QoS 0 records, oldest first, from `qos0Head` on. */
  private qos0: OutgoingRecord[] = [];
  private qos0Head = 0;
  /** QoS 0 records taken out of the middle of `items`, skipped when the head reaches them (made on first use). */
  private tombstones: Set<OutgoingRecord> | undefined;
  private count = 0;
  private bytes = 0;

  constructor(
    private bounds: QueueBounds,
    public policy: OverflowPolicy = 'refuse-newest',
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.count;
  }

  /** New bounds apply to what is offered from now on (nothing queued is dropped for them). */
  setBounds(bounds: QueueBounds): void {
    this.bounds = bounds;
  }

  get byteSize(): number {
    return this.bytes;
  }

  /**
   * Adds a delivery within the bounds: the oldest QoS 0 deliveries make room first, then the
   * policy decides between the oldest queued delivery and this one. `onEvict` hears of every
   * delivery that leaves without being sent (to count it and, for stored ones, delete it).
   * Returns whether `record` was queued.
   */
  offer(record: OutgoingRecord, onEvict: (evicted: OutgoingRecord, kind: EvictionKind) => void): boolean {
    const size = record.message.payload.length;
    if (size > this.bounds.maxBytes || this.bounds.maxMessages === 0) {
      // It could never fit: refused before anything else is given up for it.
      onEvict(record, 'newest-refused');
      return false;
    }
    while (this.count > 0 && (this.count >= this.bounds.maxMessages || this.bytes + size > this.bounds.maxBytes)) {
      const qos0 = this.takeOldestQos0();
      if (qos0) {
        onEvict(qos0, 'qos0-evicted');
        continue;
      }
      if (this.policy === 'refuse-newest') {
        onEvict(record, 'newest-refused');
        return false;
      }
      onEvict(this.shift()!, 'oldest-dropped');
    }
    this.push(record);
    return true;
  }

  /** Appends without checking the bounds (records read back from the store were admitted once). */
  push(record: OutgoingRecord, queuedAt = this.now()): void {
    this.items.push(record);
    this.queuedAt.push(queuedAt);
    if (record.qos === 0) this.qos0.push(record);
    this.count++;
    this.bytes += record.message.payload.length;
  }

  /** Epoch ms at which the oldest queued record was queued; undefined when the queue is empty. */
  get oldestQueuedAt(): number | undefined {
    return this.peek() === undefined ? undefined : this.queuedAt[this.head];
  }

  peek(): OutgoingRecord | undefined {
    this.skipTombstones();
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): OutgoingRecord | undefined {
    this.skipTombstones();
    if (this.head >= this.items.length) return undefined;
    const record = this.items[this.head]!;
    // Clear the slot so the record can be collected before the array is compacted.
    this.items[this.head] = undefined as unknown as OutgoingRecord;
    this.head++;
    if (record.qos === 0) this.advanceQos0(record);
    this.count--;
    this.bytes -= record.message.payload.length;
    this.compact();
    return record;
  }

  /** Removes and returns every queued delivery `isTaken` selects, keeping the others in order. O(n). */
  removeWhere(isTaken: (record: OutgoingRecord) => boolean): OutgoingRecord[] {
    const taken: OutgoingRecord[] = [];
    const { records, times } = this.takeAll();
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      if (isTaken(record)) taken.push(record);
      else this.push(record, times[i]);
    }
    return taken;
  }

  /** Empties the queue, returning what it held in order. */
  drainAll(): OutgoingRecord[] {
    return this.takeAll().records;
  }

  private takeAll(): { records: OutgoingRecord[]; times: number[] } {
    const records: OutgoingRecord[] = [];
    const times: number[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const record = this.items[i]!;
      if (this.tombstones?.has(record)) continue;
      records.push(record);
      times.push(this.queuedAt[i]!);
    }
    this.items = [];
    this.queuedAt = [];
    this.head = 0;
    this.qos0 = [];
    this.qos0Head = 0;
    this.tombstones = undefined;
    this.count = 0;
    this.bytes = 0;
    return { records, times };
  }

  private takeOldestQos0(): OutgoingRecord | undefined {
    if (this.qos0Head >= this.qos0.length) return undefined;
    const record = this.qos0[this.qos0Head]!;
    this.qos0[this.qos0Head] = undefined as unknown as OutgoingRecord;
    this.qos0Head++;
    (this.tombstones ??= new Set()).add(record);
    this.count--;
    this.bytes -= record.message.payload.length;
    return record;
  }

  /** The head of `items` was a live QoS 0 record: it is also the oldest in `qos0`. */
  private advanceQos0(record: OutgoingRecord): void {
    if (this.qos0[this.qos0Head] === record) {
      this.qos0[this.qos0Head] = undefined as unknown as OutgoingRecord;
      this.qos0Head++;
    }
    if (this.qos0Head > 1024 && this.qos0Head * 2 > this.qos0.length) {
      this.qos0 = this.qos0.slice(this.qos0Head);
      this.qos0Head = 0;
    }
  }

  private skipTombstones(): void {
    const tombstones = this.tombstones;
    if (!tombstones || tombstones.size === 0) return;
    while (this.head < this.items.length && tombstones.delete(this.items[this.head]!)) {
      this.items[this.head] = undefined as unknown as OutgoingRecord;
      this.head++;
    }
    this.compact();
  }

  /** Compact once the consumed head is both large and most of the array. */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.queuedAt = this.queuedAt.slice(this.head);
      this.head = 0;
    }
  }
}
