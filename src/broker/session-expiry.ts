/**
 * Session expiry: a disconnected session ends when its expiry interval has passed since the
 * disconnect (MQTT 5 3.1.2.11.2). When the timer fires the time is checked again: a clock whose
 * `now` jumps (an injected one, a restored session) re-arms for what is left.
 */
import { KeyedTimers, type Clock } from '../clock/index.js';
import { SESSION_NEVER_EXPIRES } from '../protocol/index.js';

export class SessionExpiryTimers {
  private readonly timers: KeyedTimers<string>;

  constructor(
    private readonly clock: Clock,
    private readonly onExpired: (clientId: string) => void,
  ) {
    this.timers = new KeyedTimers(clock);
  }

  /** Epoch ms at which a session disconnected at `disconnectedAt` expires, or Infinity. */
  static expiresAt(disconnectedAt: number, expiryInterval: number): number {
    return expiryInterval === SESSION_NEVER_EXPIRES ? Infinity : disconnectedAt + expiryInterval * 1000;
  }

  schedule(clientId: string, disconnectedAt: number, expiryInterval: number): void {
    const expiresAt = SessionExpiryTimers.expiresAt(disconnectedAt, expiryInterval);
    if (expiresAt === Infinity) {
      this.timers.cancel(clientId);
      return;
    }
    this.timers.schedule(clientId, expiresAt - this.clock.now(), () => {
      if (this.clock.now() >= expiresAt) this.onExpired(clientId);
      else this.schedule(clientId, disconnectedAt, expiryInterval);
    });
  }

  cancel(clientId: string): void {
    this.timers.cancel(clientId);
  }

  cancelAll(): void {
    this.timers.cancelAll();
  }
}
