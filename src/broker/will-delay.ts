/**
 * Will delay (MQTT 5 3.1.3.2.2): the will goes out when its delay has passed or the session ends,
 * whichever is first, and not at all if the client reconnects in time [MQTT-3.1.3-9].
 */
export class WillDelayTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly onDue: (clientId: string) => void) {}

  schedule(clientId: string, delaySeconds: number): void {
    this.cancel(clientId);
    const timer = setTimeout(() => {
      this.timers.delete(clientId);
      this.onDue(clientId);
    }, delaySeconds * 1000);
    timer.unref();
    this.timers.set(clientId, timer);
  }

  /** Returns whether a will was waiting. */
  cancel(clientId: string): boolean {
    const timer = this.timers.get(clientId);
    if (!timer) return false;
    clearTimeout(timer);
    this.timers.delete(clientId);
    return true;
  }

  cancelAll(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
