/**
 * Keep-alive: a client silent for one and a half times its keep-alive is gone [MQTT-3.1.2-24].
 * One timer per connection, re-armed lazily from the last activity time instead of on every
 * packet, so busy connections cost nothing here.
 */
export class KeepAliveMonitor {
  private timer: NodeJS.Timeout | undefined;
  private lastActivityAt: number;
  private readonly graceMs: number;

  constructor(
    readonly keepAliveSeconds: number,
    private readonly now: () => number,
    private readonly onExpired: () => void,
  ) {
    this.graceMs = keepAliveSeconds * 1500;
    this.lastActivityAt = now();
    this.arm(this.graceMs);
  }

  /** Any packet from the client counts as activity. */
  touch(): void {
    this.lastActivityAt = this.now();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(this.check, delayMs);
    this.timer.unref();
  }

  private readonly check = (): void => {
    const silentFor = this.now() - this.lastActivityAt;
    if (silentFor >= this.graceMs) {
      this.timer = undefined;
      this.onExpired();
    } else {
      this.arm(this.graceMs - silentFor);
    }
  };
}
