/**
 * Will delay (MQTT 5 3.1.3.2.2): the will goes out when its delay has passed or the session ends,
 * whichever is first, and not at all if the client reconnects in time [5.0 MQTT-3.1.3-9].
 */
import { KeyedTimers, type Clock } from '../clock/index.js';

export class WillDelayTimers {
  private readonly timers: KeyedTimers<string>;

  constructor(
    clock: Clock,
    private readonly onDue: (clientId: string) => void,
  ) {
    this.timers = new KeyedTimers(clock);
  }

  schedule(clientId: string, delaySeconds: number): void {
    this.timers.schedule(clientId, delaySeconds * 1000, () => this.onDue(clientId));
  }

  /** Returns whether a will was waiting. */
  cancel(clientId: string): boolean {
    return this.timers.cancel(clientId);
  }

  cancelAll(): void {
    this.timers.cancelAll();
  }
}
