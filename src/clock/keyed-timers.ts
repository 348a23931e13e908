/**
 * At most one pending callback per key (a client id): scheduling again replaces the old one. The
 * shape of session expiry, will delay and credential expiry alike.
 */
import type { Cancel, Clock } from './clock.js';

export class KeyedTimers<K> {
  private readonly pending = new Map<K, Cancel>();

  constructor(private readonly clock: Clock) {}

  /** Runs `fn` after `ms` unless cancelled or replaced first; the key is free again when `fn` runs. */
  schedule(key: K, ms: number, fn: () => void): void {
    this.cancel(key);
    const cancel = this.clock.after(ms, () => {
      this.pending.delete(key);
      fn();
    });
    this.pending.set(key, cancel);
  }

  /** Returns whether a callback was waiting. */
  cancel(key: K): boolean {
    const cancel = this.pending.get(key);
    if (!cancel) return false;
    cancel();
    this.pending.delete(key);
    return true;
  }

  has(key: K): boolean {
    return this.pending.has(key);
  }

  cancelAll(): void {
    for (const cancel of this.pending.values()) cancel();
    this.pending.clear();
  }
}
