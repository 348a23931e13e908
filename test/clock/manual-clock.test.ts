import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock/index.js';

describe('ManualClock', () => {
  it('runs nothing until advanced, then what fell due, in order of due time then of scheduling', () => {
    const clock = new ManualClock(1000);
    const ran: Array<[string, number]> = [];
    clock.after(30, () => ran.push(['c', clock.now()]));
    clock.after(10, () => ran.push(['a', clock.now()]));
    clock.after(10, () => ran.push(['b', clock.now()]));
    clock.after(31, () => ran.push(['late', clock.now()]));
    expect(ran).toEqual([]);
    clock.advance(30);
    expect(ran).toEqual([
      ['a', 1010],
      ['b', 1010],
      ['c', 1030],
    ]);
    expect(clock.now()).toBe(1030);
    expect(clock.pendingCount).toBe(1);
  });

  it('runs a callback scheduled while advancing when it falls due before the end', () => {
    const clock = new ManualClock();
    const ran: number[] = [];
    clock.after(5, () => clock.after(5, () => ran.push(clock.now())));
    clock.advance(9);
    expect(ran).toEqual([]);
    clock.advance(1);
    expect(ran).toEqual([10]);
  });

  it('cancelled callbacks never run; cancelling twice is harmless', () => {
    const clock = new ManualClock();
    let ran = false;
    const cancel = clock.after(1, () => (ran = true));
    cancel();
    cancel();
    clock.advance(10);
    expect(ran).toBe(false);
    expect(clock.pendingCount).toBe(0);
  });
});
