/**
 * Token buckets for rate limits (per-client publish rate, per-address connect rate). Pure apart
 * from the injected clock: `take` says how long the caller should wait before going on.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    /** Tokens added per second. */
    private readonly rate: number,
    /** Most tokens held at once (the burst allowed). */
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.updatedAt = now();
  }

  /** Takes `amount` tokens; returns 0 if they were there, else the ms until the debt is paid. */
  take(amount: number): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.rate);
    this.updatedAt = now;
    this.tokens -= amount;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
  }

  /** Whether `amount` tokens are available now; takes them only if so. */
  tryTake(amount: number): boolean {
    const wait = this.take(amount);
    if (wait > 0) this.tokens += amount;
    return wait === 0;
  }
}

/** One bucket per key (e.g. client address), forgetting keys idle long enough to be full again. */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, { bucket: TokenBucket; lastUsed: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number,
    /** Bound on remembered keys: an address flood cannot grow this map without limit. */
    private readonly maxKeys = 10_000,
  ) {}

  tryTake(key: string): boolean {
    const now = this.now();
    let entry = this.buckets.get(key);
    if (!entry) {
      if (this.buckets.size >= this.maxKeys) this.prune(now);
      entry = { bucket: new TokenBucket(this.rate, this.burst, this.now), lastUsed: now };
      this.buckets.set(key, entry);
    }
    entry.lastUsed = now;
    return entry.bucket.tryTake(1);
  }

  private prune(now: number): void {
    const idleMs = (this.burst / this.rate) * 1000;
    for (const [key, entry] of this.buckets) if (now - entry.lastUsed > idleMs) this.buckets.delete(key);
    // Still full of active keys: forget the oldest half rather than grow.
    if (this.buckets.size >= this.maxKeys) {
      let drop = Math.floor(this.buckets.size / 2);
      for (const key of this.buckets.keys()) {
        if (drop-- <= 0) break;
        this.buckets.delete(key);
      }
    }
  }
}
