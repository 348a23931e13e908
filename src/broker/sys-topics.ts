/**
 * $SYS topics, named as Mosquitto names them, published retained every `sys.interval` seconds.
 * They live in memory only (rewritten every interval, no store writes) and reach only those
 * whose ACL lets them read `$SYS` — a root `#` never matches them [MQTT-4.7.2-1].
 */
import type { Message } from '../store/index.js';

export interface SysSnapshot {
  version: string;
  uptimeSeconds: number;
  clientsConnected: number;
  clientsDisconnected: number;
  clientsTotal: number;
  clientsMaximum: number;
  messagesReceived: number;
  messagesSent: number;
  bytesReceived: number;
  bytesSent: number;
  subscriptions: number;
  retainedMessages: number;
  storeBytes: number | undefined;
  droppedByReason: Readonly<Record<string, number>>;
  /** Sessions whose queue bound refused or evicted deliveries (the 100 with the most). */
  sessionsDropping: ReadonlyArray<{ clientId: string; queueFull: number }>;
  /** `ok` or why store writes fail (a full disk). */
  storeState: string;
}

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
    private readonly snapshot: () => Promise<SysSnapshot> | SysSnapshot,
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
      const s = await this.snapshot();
      this.received.update(s.messagesReceived, this.intervalSeconds);
      this.sent.update(s.messagesSent, this.intervalSeconds);
      const values: Array<[string, string | number]> = [
        ['version', `midge version ${s.version}`],
        ['uptime', `${Math.floor(s.uptimeSeconds)} seconds`],
        ['clients/connected', s.clientsConnected],
        ['clients/active', s.clientsConnected],
        ['clients/disconnected', s.clientsDisconnected],
        ['clients/inactive', s.clientsDisconnected],
        ['clients/total', s.clientsTotal],
        ['clients/maximum', s.clientsMaximum],
        ['messages/received', s.messagesReceived],
        ['messages/sent', s.messagesSent],
        ['publish/messages/received', s.messagesReceived],
        ['publish/messages/sent', s.messagesSent],
        ['bytes/received', s.bytesReceived],
        ['bytes/sent', s.bytesSent],
        ['load/messages/received/1min', this.received.get(1).toFixed(2)],
        ['load/messages/received/5min', this.received.get(5).toFixed(2)],
        ['load/messages/received/15min', this.received.get(15).toFixed(2)],
        ['load/messages/sent/1min', this.sent.get(1).toFixed(2)],
        ['load/messages/sent/5min', this.sent.get(5).toFixed(2)],
        ['load/messages/sent/15min', this.sent.get(15).toFixed(2)],
        ['subscriptions/count', s.subscriptions],
        ['retained messages/count', s.retainedMessages],
      ];
      if (s.storeBytes !== undefined) values.push(['store/size', s.storeBytes]);
      for (const [reason, n] of Object.entries(s.droppedByReason)) values.push([`messages/dropped/${reason}`, n]);
      for (const { clientId, queueFull } of s.sessionsDropping) {
        // A client id may hold characters a topic name may not (wildcards, NUL is refused anyway).
        if (queueFull > 0 && !/[+#]/.test(clientId)) values.push([`sessions/${clientId}/dropped/queue-full`, queueFull]);
      }
      values.push(['store/state', s.storeState]);
      for (const [suffix, value] of values) {
        this.publish({ topic: `$SYS/broker/${suffix}`, payload: Buffer.from(String(value)), qos: 0, retain: true });
      }
    } catch (error) {
      this.onError(error);
    }
  }
}
