/**
 * The AMQP sink's confirm watchdog on a ManualClock: a channel that keeps confirming is never
 * dropped however long its window takes to drain; one that goes silent for `timeoutMs` with
 * confirms owed is; a blocked connection (RabbitMQ's alarm) has no deadline until unblocked.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/index.js';
import { ConfirmWatchdog } from '../../src/connectors/confirm-watchdog.js';

function watch(timeoutMs: number): { clock: ManualClock; dog: ConfirmWatchdog; stalls: number[] } {
  const clock = new ManualClock();
  const stalls: number[] = [];
  const dog = new ConfirmWatchdog(timeoutMs, (silentMs) => stalls.push(silentMs), clock);
  return { clock, dog, stalls };
}

describe('ConfirmWatchdog', () => {
  it('a slow but confirming channel is not dropped: 4,000 confirms over 40 s with a 1 s timeout', () => {
    const { clock, dog, stalls } = watch(1000);
    dog.published(4000);
    for (let i = 0; i < 4000; i++) {
      clock.advance(10); // one confirm every 10 ms: the whole window takes 40 × the timeout
      dog.confirmed();
    }
    clock.advance(5000);
    expect(stalls).toEqual([]);
    expect(dog.pendingConfirms).toBe(0);
  });

  it('silence with confirms owed: dropped once, timeoutMs after the last confirm', () => {
    const { clock, dog, stalls } = watch(1000);
    dog.published(3);
    clock.advance(600);
    dog.confirmed();
    clock.advance(999); // 999 ms since that confirm
    expect(stalls).toEqual([]);
    clock.advance(1);
    expect(stalls).toEqual([1000]);
    clock.advance(10_000);
    expect(stalls).toHaveLength(1);
  });

  it('nothing owed: no deadline, and the next wait starts at its publish', () => {
    const { clock, dog, stalls } = watch(1000);
    dog.published(1);
    dog.confirmed();
    clock.advance(60_000);
    dog.published(1);
    clock.advance(999);
    expect(stalls).toEqual([]);
    clock.advance(1);
    expect(stalls).toEqual([1000]);
  });

  it('blocked (connection.blocked): no deadline until unblocked, then a full timeout again', () => {
    const { clock, dog, stalls } = watch(1000);
    dog.published(10);
    clock.advance(500);
    dog.blocked();
    clock.advance(30_000);
    expect(stalls).toEqual([]);
    dog.unblocked();
    clock.advance(999);
    expect(stalls).toEqual([]);
    clock.advance(1);
    expect(stalls).toEqual([1000]);
  });

  it('stopped (the channel is gone): never fires, and keeps one timer at most while armed', () => {
    const { clock, dog, stalls } = watch(1000);
    dog.published(5);
    dog.published(5);
    expect(clock.pendingCount).toBe(1);
    dog.stop();
    expect(clock.pendingCount).toBe(0);
    clock.advance(10_000);
    expect(stalls).toEqual([]);
  });
});
