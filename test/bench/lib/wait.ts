/**
 * Waiting in a benchmark: counters are polled at a short interval (cheaper than a callback per
 * message), every wait has a bound, and an aborted scenario stops waiting at once.
 */
import { performance } from 'node:perf_hooks';

const POLL_MS = 10;

export class AbortedError extends Error {
  constructor() {
    super('aborted');
    this.name = 'AbortedError';
  }
}

/** Runs `check` every few ms until it returns true (→ true) or `timeoutMs` passes (→ false). */
export function waitFor(check: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + timeoutMs;
    const poll = (): void => {
      if (signal?.aborted) return finish(() => reject(new AbortedError()));
      if (check()) return finish(() => resolve(true));
      if (performance.now() >= deadline) return finish(() => resolve(false));
    };
    const timer = setInterval(poll, POLL_MS);
    const onAbort = (): void => poll();
    signal?.addEventListener('abort', onAbort);
    const finish = (settle: () => void): void => {
      clearInterval(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    poll();
  });
}

export interface Settled {
  count: number;
  /** performance.now() when the count last moved: the end of the timed interval. */
  lastMovedAt: number;
  isComplete: boolean;
}

/**
 * Waits until `count()` reaches `target`, or has not moved for `idleMs` (QoS 0 may drop, a broker
 * may stall), or `timeoutMs` passes.
 */
export async function settle(count: () => number, target: number, idleMs: number, timeoutMs: number, signal?: AbortSignal): Promise<Settled> {
  let last = count();
  let lastMovedAt = performance.now();
  await waitFor(
    () => {
      const now = count();
      if (now !== last) {
        last = now;
        lastMovedAt = performance.now();
      }
      return now >= target || performance.now() - lastMovedAt > idleMs;
    },
    timeoutMs,
    signal,
  );
  return { count: last, lastMovedAt, isComplete: last >= target };
}

/** A measured interval (warm-up, a fixed-rate window): sleeping is the point here. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError());
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
