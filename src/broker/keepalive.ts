/**
 * Keep-alive: a client silent for one and a half times its keep-alive is gone [3.1.1 MQTT-3.1.2-24]
 * [5.0 MQTT-3.1.2-22]. One timer per connection, re-armed lazily from the last activity time
 * instead of on every packet, so busy connections cost nothing here.
 */
import type { Cancel, Clock } from '../clock/index.js';

export class KeepAliveMonitor {
  private cancelTimer: Cancel | undefined;
  private lastActivityAt: number;
  private readonly graceMs: number;

  constructor(
    readonly keepAliveSeconds: number,
    private readonly clock: Clock,
    private readonly onExpired: () => void,
  ) {
    this.graceMs = keepAliveSeconds * 1500;
    this.lastActivityAt = clock.now();
    this.arm(this.graceMs);
  }

  /** Any packet from the client counts as activity. */
  touch(): void {
    this.lastActivityAt = this.clock.now();
  }

  stop(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private arm(delayMs: number): void {
    this.cancelTimer = this.clock.after(delayMs, this.check);
  }

  private readonly check = (): void => {
    const silentFor = this.clock.now() - this.lastActivityAt;
    if (silentFor >= this.graceMs) {
      this.cancelTimer = undefined;
      this.onExpired();
    } else {
      this.arm(this.graceMs - silentFor);
    }
  };
}
