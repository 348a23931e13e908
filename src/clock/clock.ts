/**
 * Time as a dependency: every timer-driven rule (keep-alive, session expiry, will delay, credential
 * expiry, the CONNECT timeout) asks a Clock for the time and for a callback later, so tests move a
 * ManualClock instead of sleeping and the rules never call setTimeout themselves.
 */

/** Stops a pending callback; calling it after the callback ran (or twice) does nothing. */
export type Cancel = () => void;

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Runs `fn` once, `ms` from now (at once for 0 or less). A pending callback never keeps the process alive. */
  after(ms: number, fn: () => void): Cancel;
}

/** What one setTimeout can hold (~24.8 days); a longer wait is re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function afterReal(ms: number, fn: () => void): Cancel {
  let timer: NodeJS.Timeout;
  const arm = (left: number): void => {
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS, left - MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
    timer.unref();
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/** The wall clock and Node's timers (unref'd). */
export const systemClock: Clock = { now: Date.now, after: afterReal };

/** Real timers with another source of "now" (the broker's older `now` option). */
export function clockWithNow(now: () => number): Clock {
  return { now, after: afterReal };
}
