/** The bounded FIFO under a session's deliveries. */
import { describe, expect, it } from 'vitest';
import { DeliveryQueue, type EvictionKind } from '../../src/session/delivery-queue.js';
import type { OutgoingRecord } from '../../src/store/index.js';
import { message } from './fakes.js';

let seq = 0;
const record = (text: string, qos: 0 | 1 = 1): OutgoingRecord => ({ seq: ++seq, message: message(text, qos), qos, retain: false, state: 'queued' });

describe('DeliveryQueue', () => {
  it('keeps arrival order across QoS 0 and QoS 1, skipping a QoS 0 evicted from the middle', () => {
    const queue = new DeliveryQueue({ maxMessages: 3, maxBytes: 1 << 20 });
    const evicted: Array<[string, EvictionKind]> = [];
    const onEvict = (r: OutgoingRecord, kind: EvictionKind) => evicted.push([r.message.payload.toString(), kind]);
    for (const r of [record('a'), record('z0', 0), record('b')]) queue.offer(r, onEvict);
    expect(queue.offer(record('c'), onEvict)).toBe(true);
    expect(evicted).toEqual([['z0', 'qos0-evicted']]);
    const out: string[] = [];
    for (let r = queue.shift(); r; r = queue.shift()) out.push(r.message.payload.toString());
    expect(out).toEqual(['a', 'b', 'c']);
    expect(queue.size).toBe(0);
    expect(queue.byteSize).toBe(0);
  });

  it('the byte bound counts as the message bound does; a delivery larger than the bound is refused alone', () => {
    const queue = new DeliveryQueue({ maxMessages: 100, maxBytes: 4 }, 'drop-oldest');
    const kinds: EvictionKind[] = [];
    queue.offer(record('ab'), (_r, k) => kinds.push(k));
    queue.offer(record('cd'), (_r, k) => kinds.push(k));
    expect(queue.offer(record('toolarge'), (_r, k) => kinds.push(k))).toBe(false);
    expect(queue.size).toBe(2);
    expect(queue.offer(record('ef'), (_r, k) => kinds.push(k))).toBe(true);
    expect(kinds).toEqual(['newest-refused', 'oldest-dropped']);
    expect(queue.peek()!.message.payload.toString()).toBe('cd');
  });

  it('refuses at a full bound of 100,000 without scanning the queue (100,000 refusals finish at once)', () => {
    // An O(n) search for a QoS 0 record to evict would make this 10^10 steps: the test would time out.
    const queue = new DeliveryQueue({ maxMessages: 100_000, maxBytes: Number.MAX_SAFE_INTEGER });
    let refused = 0;
    for (let i = 0; i < 200_000; i++) queue.offer(record('x'), () => refused++);
    expect(queue.size).toBe(100_000);
    expect(refused).toBe(100_000);
  });

  it('removeWhere takes what it selects and keeps the rest in order', () => {
    const queue = new DeliveryQueue({ maxMessages: 10, maxBytes: 1 << 20 });
    for (const r of [record('a'), record('z', 0), record('b')]) queue.push(r);
    expect(queue.removeWhere((r) => r.qos === 0).map((r) => r.message.payload.toString())).toEqual(['z']);
    expect(queue.drainAll().map((r) => r.message.payload.toString())).toEqual(['a', 'b']);
  });

  it('the age of the oldest queued follows the head, through evictions, compaction and removeWhere', () => {
    let now = 1_000;
    const queue = new DeliveryQueue({ maxMessages: 5_000, maxBytes: 1 << 30 }, 'refuse-newest', () => now);
    const onEvict = (): void => undefined;
    queue.offer(record('z0', 0), onEvict); // queued at 1000, taken from the middle below
    for (let i = 0; i < 3_000; i++, now++) queue.offer(record(`m${i}`), onEvict); // m<i> at 1000 + i
    expect(queue.oldestQueuedAt).toBe(1_000);
    // Past the compaction threshold (1,024 consumed) the array is sliced; the times must move with it.
    for (let i = 0; i < 2_000; i++) queue.shift();
    expect(queue.oldestQueuedAt).toBe(1_000 + 1_999);
    // removeWhere re-queues what it keeps with the time each had, not the time of the call.
    now = 9_999_999;
    queue.removeWhere((r) => r.message.payload.toString() === 'm1999');
    expect(queue.oldestQueuedAt).toBe(1_000 + 2_000);
    while (queue.size > 0) queue.shift();
    expect(queue.oldestQueuedAt).toBeUndefined();
  });
});
