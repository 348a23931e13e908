/**
 * Session expiry: a disconnected session ends when its expiry interval has passed since the
 * disconnect (MQTT 5 3.1.2.11.2). Timers are capped at what setTimeout can hold and re-checked.
 */
import { SESSION_NEVER_EXPIRES } from '../protocol/index.js';

const MAX_TIMER_MS = 2 ** 31 - 1;

export class SessionExpiryTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly now: () => number,
    private readonly onExpired: (clientId: string) => void,
  ) {}

  /** Epoch ms at which a session disconnected at `disconnectedAt` expires, or Infinity. */
  static expiresAt(disconnectedAt: number, expiryInterval: number): number {
    return expiryInterval === SESSION_NEVER_EXPIRES ? Infinity : disconnectedAt + expiryInterval * 1000;
  }

  schedule(clientId: string, disconnectedAt: number, expiryInterval: number): void {
    this.cancel(clientId);
    const expiresAt = SessionExpiryTimers.expiresAt(disconnectedAt, expiryInterval);
    if (expiresAt === Infinity) return;
    const delay = Math.max(0, expiresAt - this.now());
    const timer = setTimeout(() => {
      this.timers.delete(clientId);
      if (this.now() >= expiresAt) this.onExpired(clientId);
      else this.schedule(clientId, disconnectedAt, expiryInterval);
    }, Math.min(delay, MAX_TIMER_MS));
    timer.unref();
    this.timers.set(clientId, timer);
  }

  cancel(clientId: string): void {
    const timer = this.timers.get(clientId);
    if (timer) {
      clearTimeout(timer);
      this.timers.delete(clientId);
    }
  }

  cancelAll(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
