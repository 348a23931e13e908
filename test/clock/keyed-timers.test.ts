import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeyedTimers, ManualClock, systemClock } from '../../src/clock/index.js';

describe('KeyedTimers', () => {
  it('keeps one pending callback per key: scheduling again replaces it', () => {
    const clock = new ManualClock();
    const timers = new KeyedTimers<string>(clock);
    const ran: string[] = [];
    timers.schedule('a', 10, () => ran.push('a1'));
    timers.schedule('a', 20, () => ran.push('a2'));
    timers.schedule('b', 10, () => ran.push('b'));
    clock.advance(10);
    expect(ran).toEqual(['b']);
    expect(timers.has('a')).toBe(true);
    clock.advance(10);
    expect(ran).toEqual(['b', 'a2']);
    expect(timers.has('a')).toBe(false);
  });

  it('cancel says whether something was waiting; cancelAll clears every key', () => {
    const clock = new ManualClock();
    const timers = new KeyedTimers<string>(clock);
    let ran = 0;
    timers.schedule('a', 1, () => ran++);
    timers.schedule('b', 1, () => ran++);
    expect(timers.cancel('a')).toBe(true);
    expect(timers.cancel('a')).toBe(false);
    timers.cancelAll();
    clock.advance(5);
    expect(ran).toBe(0);
    expect(clock.pendingCount).toBe(0);
  });

  it('the key is free when the callback runs, so the callback may schedule it again', () => {
    const clock = new ManualClock();
    const timers = new KeyedTimers<string>(clock);
    let runs = 0;
    const again = (): void => {
      if (++runs < 3) timers.schedule('k', 5, again);
    };
    timers.schedule('k', 5, again);
    clock.advance(100);
    expect(runs).toBe(3);
  });
});

describe('systemClock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits longer than one setTimeout can hold (~24.8 days) by re-arming, and fires once', () => {
    vi.useFakeTimers();
    let ran = 0;
    systemClock.after(30 * 86_400_000, () => ran++);
    vi.advanceTimersByTime(30 * 86_400_000 - 1);
    expect(ran).toBe(0);
    vi.advanceTimersByTime(1);
    expect(ran).toBe(1);
    vi.advanceTimersByTime(60 * 86_400_000);
    expect(ran).toBe(1);
  });

  it('cancel stops a long wait after a re-arm too', () => {
    vi.useFakeTimers();
    let ran = 0;
    const cancel = systemClock.after(30 * 86_400_000, () => ran++);
    vi.advanceTimersByTime(25 * 86_400_000);
    cancel();
    vi.advanceTimersByTime(10 * 86_400_000);
    expect(ran).toBe(0);
  });
});
