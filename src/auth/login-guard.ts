/**
 * Brute-force defence for the authentication chain: failed attempts are counted per client address
 * and per user name; `maxFailures` within `windowMs` locks that key out for `lockoutMs`, during
 * which every attempt is refused at once (CONNACK 0x8A Banned) without reaching any backend.
 * A success clears the counters of its address and user name. Pure apart from the injected clock.
 */

export interface LoginGuardOptions {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
  now?: () => number;
  /** Bound on remembered keys, so an address flood cannot grow memory without limit. */
  maxKeys?: number;
}

interface Counter {
  failures: number;
  firstAt: number;
  lockedUntil: number;
}

export class LoginGuard {
  private readonly counters = new Map<string, Counter>();
  private readonly now: () => number;
  /** Lockouts started, for the metrics. */
  lockouts = 0;

  constructor(private readonly options: LoginGuardOptions) {
    this.now = options.now ?? Date.now;
  }

  private keys(address: string, username: string | undefined): string[] {
    return username === undefined ? [`a:${address}`] : [`a:${address}`, `u:${username}`];
  }

  /** The key that is locked out now ('address' or 'username'), if any. */
  lockedBy(address: string, username: string | undefined): 'address' | 'username' | undefined {
    const now = this.now();
    for (const key of this.keys(address, username)) {
      const counter = this.counters.get(key);
      if (counter && counter.lockedUntil > now) return key.startsWith('a:') ? 'address' : 'username';
    }
    return undefined;
  }

  /** Counts a failure; true when it started a lockout. */
  recordFailure(address: string, username: string | undefined): boolean {
    const now = this.now();
    let didLock = false;
    for (const key of this.keys(address, username)) {
      let counter = this.counters.get(key);
      if (!counter || (counter.lockedUntil <= now && now - counter.firstAt > this.options.windowMs)) {
        counter = { failures: 0, firstAt: now, lockedUntil: 0 };
        this.counters.set(key, counter);
        this.prune(now);
      }
      counter.failures++;
      if (counter.failures >= this.options.maxFailures && counter.lockedUntil <= now) {
        counter.lockedUntil = now + this.options.lockoutMs;
        counter.failures = 0;
        counter.firstAt = now;
        this.lockouts++;
        didLock = true;
      }
    }
    return didLock;
  }

  recordSuccess(address: string, username: string | undefined): void {
    for (const key of this.keys(address, username)) {
      const counter = this.counters.get(key);
      if (counter && counter.lockedUntil <= this.now()) this.counters.delete(key);
    }
  }

  private prune(now: number): void {
    const maxKeys = this.options.maxKeys ?? 100_000;
    if (this.counters.size <= maxKeys) return;
    for (const [key, counter] of this.counters) {
      if (counter.lockedUntil <= now && now - counter.firstAt > this.options.windowMs) this.counters.delete(key);
    }
    // Still full of live keys: drop the oldest (never a running lockout first: Map order is age).
    for (const [key, counter] of this.counters) {
      if (this.counters.size <= maxKeys) break;
      if (counter.lockedUntil <= now) this.counters.delete(key);
    }
  }
}
