/**
 * Messages per topic, for the dashboard's topic tree. Counting is off until someone reads the
 * rates and switches itself off again after a quiet spell, so a broker nobody watches pays one
 * boolean test per PUBLISH. While on, a PUBLISH costs one Map update in a bounded map; topics past
 * the bound are counted under their first level, so a fleet of 10,000 device topics stays bounded.
 */

/** Distinct topics counted per window; more go to their first level's overflow bucket. */
export const MAX_COUNTED_TOPICS = 4096;
/** Rates are counts over the last full window of at least this long. */
const WINDOW_MS = 5000;
/** Counting stops this long after the last read. */
const IDLE_OFF_MS = 10 * 60_000;

export interface TopicRates {
  /** Messages per second by topic over the last window; overflow buckets are keyed `first/…`. */
  perSecond: Map<string, number>;
  windowMs: number;
  /** False right after counting was switched on: no full window yet. */
  hasWindow: boolean;
}

export class TopicRateCounter {
  private isCounting = false;
  private current = new Map<string, number>();
  private windowStartedAt = 0;
  private last: { counts: Map<string, number>; ms: number } | undefined;
  private lastReadAt = 0;

  constructor(private readonly now: () => number) {}

  /** On the PUBLISH path: keep this cheap. */
  count(topic: string): void {
    if (!this.isCounting) return;
    const counts = this.current;
    const seen = counts.get(topic);
    if (seen !== undefined) counts.set(topic, seen + 1);
    else if (counts.size < MAX_COUNTED_TOPICS) counts.set(topic, 1);
    else {
      const slash = topic.indexOf('/');
      const bucket = `${slash < 0 ? topic : topic.slice(0, slash)}/…`;
      counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
    }
  }

  /** Reads the rates, switching counting on (or keeping it on). */
  read(): TopicRates {
    const now = this.now();
    if (!this.isCounting || now - this.lastReadAt > IDLE_OFF_MS) this.restart(now);
    this.lastReadAt = now;
    if (now - this.windowStartedAt >= WINDOW_MS) {
      this.last = { counts: this.current, ms: now - this.windowStartedAt };
      this.current = new Map();
      this.windowStartedAt = now;
    }
    const perSecond = new Map<string, number>();
    const last = this.last;
    if (last) for (const [topic, n] of last.counts) perSecond.set(topic, (n * 1000) / last.ms);
    return { perSecond, windowMs: last?.ms ?? 0, hasWindow: last !== undefined };
  }

  /** Called by the stats sampler every second: a stale reader turns counting off. */
  tick(): void {
    if (this.isCounting && this.now() - this.lastReadAt > IDLE_OFF_MS) {
      this.isCounting = false;
      this.current = new Map();
      this.last = undefined;
    }
  }

  get isOn(): boolean {
    return this.isCounting;
  }

  private restart(now: number): void {
    this.isCounting = true;
    this.current = new Map();
    this.last = undefined;
    this.windowStartedAt = now;
  }
}
