/**
 * One sample of the broker's counters per second, the last 15 minutes kept in a ring, pushed to
 * whoever listens (the dashboard's Server-Sent Events stream). A sample is the stream view of the
 * counters table (observability/counters.ts `streamView`, the rows' `stream` places): gauges as
 * they are, each counter as its per-second rate, each by-reason group as its record plus the rate
 * of its total (`<group>PerSecond`). Rates are differences between consecutive samples divided by
 * the time between them, so a late tick does not inflate them.
 */
import type { StreamReading } from '../observability/index.js';

/** One sample: `at` (epoch ms), then the fields the table's stream places name. */
export type StatsSample = { readonly at: number } & Readonly<Record<string, number | Readonly<Record<string, number>>>>;

/** 15 minutes at one sample a second. */
export const HISTORY_SAMPLES = 900;

function sum(record: Readonly<Record<string, number>> | undefined): number {
  let total = 0;
  for (const value of Object.values(record ?? {})) total += value;
  return total;
}

export class StatsSampler {
  private readonly history: StatsSample[] = [];
  private readonly listeners = new Set<(sample: StatsSample) => void>();
  private previous: { at: number; reading: StreamReading } | undefined;

  constructor(
    private readonly read: () => StreamReading,
    private readonly now: () => number,
  ) {}

  /** Takes a sample now (the timer calls this every second; tests call it with their own clock). */
  sample(): StatsSample {
    const at = this.now();
    const reading = this.read();
    const previous = this.previous;
    const seconds = previous ? Math.max((at - previous.at) / 1000, 0.001) : 1;
    const rate = (current: number, before: number | undefined): number => (before === undefined ? 0 : Math.max(0, current - before) / seconds);
    const sample: Record<string, number | Record<string, number>> = { at };
    for (const [field, value] of Object.entries(reading.values)) {
      const rateField = reading.rates[field];
      if (rateField === undefined) sample[field] = value;
      else sample[rateField] = rate(value, previous?.reading.values[field]);
    }
    for (const [group, record] of Object.entries(reading.groups)) {
      sample[group] = { ...record };
      sample[`${group}PerSecond`] = rate(sum(record), previous ? sum(previous.reading.groups[group]) : undefined);
    }
    // streamView builds a new reading each time, so keeping this one keeps a snapshot.
    this.previous = { at, reading };
    const taken = sample as StatsSample;
    this.history.push(taken);
    if (this.history.length > HISTORY_SAMPLES) this.history.shift();
    for (const listener of this.listeners) listener(taken);
    return taken;
  }

  /** The kept samples, oldest first. */
  get samples(): readonly StatsSample[] {
    return this.history;
  }

  /** Listens for each new sample; returns the function that stops listening. */
  subscribe(listener: (sample: StatsSample) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}
