/**
 * One sample of the broker's counters per second, the last 15 minutes kept in a ring, pushed to
 * whoever listens (the dashboard's Server-Sent Events stream). Rates are differences between
 * consecutive samples divided by the time between them, so a late tick does not inflate them.
 */

/** The cumulative counters and current gauges a sample is taken from. */
export interface StatsReading {
  messagesReceived: number;
  messagesSent: number;
  bytesReceived: number;
  bytesSent: number;
  connections: number;
  sessions: number;
  subscriptions: number;
  retained: number;
  queued: number;
  inflight: number;
  /** Messages dropped, by reason (cumulative). */
  dropped: Record<string, number>;
  /** Refusals, by reason (cumulative): refused CONNECTs by reason code, throttling, full stores. */
  refused: Record<string, number>;
}

export interface StatsSample {
  /** Epoch ms. */
  at: number;
  messagesInPerSecond: number;
  messagesOutPerSecond: number;
  bytesInPerSecond: number;
  bytesOutPerSecond: number;
  connections: number;
  sessions: number;
  subscriptions: number;
  retained: number;
  queued: number;
  inflight: number;
  dropped: Record<string, number>;
  refused: Record<string, number>;
  /** Drops and refusals in this interval, all reasons together. */
  droppedPerSecond: number;
  refusedPerSecond: number;
}

/** 15 minutes at one sample a second. */
export const HISTORY_SAMPLES = 900;

function sum(record: Record<string, number>): number {
  let total = 0;
  for (const value of Object.values(record)) total += value;
  return total;
}

export class StatsSampler {
  private readonly history: StatsSample[] = [];
  private readonly listeners = new Set<(sample: StatsSample) => void>();
  private previous: { at: number; reading: StatsReading } | undefined;

  constructor(
    private readonly read: () => StatsReading,
    private readonly now: () => number,
  ) {}

  /** Takes a sample now (the timer calls this every second; tests call it with their own clock). */
  sample(): StatsSample {
    const at = this.now();
    const reading = this.read();
    const previous = this.previous;
    const seconds = previous ? Math.max((at - previous.at) / 1000, 0.001) : 1;
    const rate = (current: number, before: number | undefined): number => (before === undefined ? 0 : Math.max(0, current - before) / seconds);
    const sample: StatsSample = {
      at,
      messagesInPerSecond: rate(reading.messagesReceived, previous?.reading.messagesReceived),
      messagesOutPerSecond: rate(reading.messagesSent, previous?.reading.messagesSent),
      bytesInPerSecond: rate(reading.bytesReceived, previous?.reading.bytesReceived),
      bytesOutPerSecond: rate(reading.bytesSent, previous?.reading.bytesSent),
      connections: reading.connections,
      sessions: reading.sessions,
      subscriptions: reading.subscriptions,
      retained: reading.retained,
      queued: reading.queued,
      inflight: reading.inflight,
      dropped: { ...reading.dropped },
      refused: { ...reading.refused },
      droppedPerSecond: rate(sum(reading.dropped), previous ? sum(previous.reading.dropped) : undefined),
      refusedPerSecond: rate(sum(reading.refused), previous ? sum(previous.reading.refused) : undefined),
    };
    this.previous = { at, reading: { ...reading, dropped: { ...reading.dropped }, refused: { ...reading.refused } } };
    this.history.push(sample);
    if (this.history.length > HISTORY_SAMPLES) this.history.shift();
    for (const listener of this.listeners) listener(sample);
    return sample;
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
