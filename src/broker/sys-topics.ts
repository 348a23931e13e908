/**
 * $SYS topics, named as Mosquitto names them, published retained every `sys.interval` seconds:
 * the `sys` rows of the counters table (counters-table.ts), and the load averages derived from two of them.
 * They live in memory only (rewritten every interval, no store writes) and reach only those
 * whose ACL lets them read `$SYS` — a root `#` never matches them [3.1.1 MQTT-4.7.2-1] [5.0 MQTT-4.7.2-1].
 */
import { sysView } from '../observability/index.js';
import type { Message } from '../store/index.js';
import { BROKER_COUNTERS } from './counters-table.js';
import type { CountersReading } from './counters.js';

/** Exponentially damped moving averages of a per-minute rate, as Mosquitto's load/… topics. */
class LoadAverage {
  private readonly values = { 1: 0, 5: 0, 15: 0 };
  private last: number | undefined;

  update(total: number, intervalSeconds: number): void {
    if (this.last !== undefined) {
      const perMinute = ((total - this.last) * 60) / intervalSeconds;
      for (const minutes of [1, 5, 15] as const) {
        const decay = Math.exp(-intervalSeconds / (minutes * 60));
        this.values[minutes] = this.values[minutes] * decay + perMinute * (1 - decay);
      }
    }
    this.last = total;
  }

  get(minutes: 1 | 5 | 15): number {
    return this.values[minutes];
  }
}

export class SysTopics {
  private timer: NodeJS.Timeout | undefined;
  private readonly received = new LoadAverage();
  private readonly sent = new LoadAverage();

  constructor(
    private readonly intervalSeconds: number,
    /** One reading of the counters table (with the store's size: $SYS waits for it). */
    private readonly read: () => Promise<CountersReading> | CountersReading,
    private readonly publish: (message: Message) => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    if (this.intervalSeconds <= 0) return;
    void this.publishNow();
    this.timer = setInterval(() => void this.publishNow(), this.intervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async publishNow(): Promise<void> {
    try {
      const reading = await this.read();
      this.received.update(reading.stats.messagesReceived, this.intervalSeconds);
      this.sent.update(reading.stats.messagesSent, this.intervalSeconds);
      const values = sysView(BROKER_COUNTERS, reading);
      // Derived from two rows of the table over time, so computed here rather than read.
      for (const [direction, load] of [['received', this.received], ['sent', this.sent]] as const) {
        for (const minutes of [1, 5, 15] as const) values.push([`load/messages/${direction}/${minutes}min`, load.get(minutes).toFixed(2)]);
      }
      for (const [suffix, value] of values) {
        this.publish({ topic: `$SYS/broker/${suffix}`, payload: Buffer.from(value), qos: 0, retain: true });
      }
    } catch (error) {
      this.onError(error);
    }
  }
}
