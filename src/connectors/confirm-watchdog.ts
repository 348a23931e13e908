/**
 * When an AMQP confirm channel counts as hung: messages wait for publisher confirms and none has
 * come for `timeoutMs`, while RabbitMQ has not said the connection is blocked (a memory or disk
 * alarm: it is alive and will confirm once the alarm clears).
 *
 * Why progress and not a deadline per batch: a batch's deadline started when it was published, so
 * with several batches in flight the last one waited behind the others. A RabbitMQ that was slow
 * but confirming (a deep window, a slow disk) then missed the deadline, the link was dropped, and
 * every unconfirmed message of the window was sent again — duplicates of messages RabbitMQ had
 * already queued, and a new deadline for the resend that a still-slow server missed again. Measured
 * from the last confirm, only a channel that stopped confirming is dropped.
 */

/** The two things the watchdog needs of a clock (a ManualClock fits, for tests). */
export interface WatchdogClock {
  now(): number;
  after(ms: number, fn: () => void): () => void;
}

function afterReal(ms: number, fn: () => void): () => void {
  const timer = setTimeout(fn, ms);
  timer.unref(); // a watchdog never keeps the process alive
  return () => clearTimeout(timer);
}

const realClock: WatchdogClock = { now: () => performance.now(), after: afterReal };

export class ConfirmWatchdog {
  /** Messages published and not yet confirmed (or nacked). */
  private waiting = 0;
  /** The last confirm, or when the wait began (ms on the clock). */
  private lastProgressAt = 0;
  private isBlocked = false;
  private cancel: (() => void) | undefined;
  private isStopped = false;

  constructor(
    private readonly timeoutMs: number,
    /** Called once, with how long nothing was confirmed. */
    private readonly onStall: (silentMs: number) => void,
    private readonly clock: WatchdogClock = realClock,
  ) {}

  get pendingConfirms(): number {
    return this.waiting;
  }

  /** `count` more messages wait for their confirms. */
  published(count: number): void {
    if (this.isStopped || count <= 0) return;
    if (this.waiting === 0) this.lastProgressAt = this.clock.now();
    this.waiting += count;
    this.arm(this.timeoutMs);
  }

  /** One message's confirm (ack or nack) came: the channel is alive. */
  confirmed(): void {
    if (this.isStopped) return;
    this.lastProgressAt = this.clock.now();
    if (this.waiting > 0) this.waiting--;
    if (this.waiting === 0) this.disarm();
  }

  /** RabbitMQ blocked the connection (connection.blocked): no deadline while it says so. */
  blocked(): void {
    this.isBlocked = true;
    this.disarm();
  }

  unblocked(): void {
    this.isBlocked = false;
    this.lastProgressAt = this.clock.now();
    if (this.waiting > 0) this.arm(this.timeoutMs);
  }

  /** The channel is gone: nothing more to watch. */
  stop(): void {
    this.isStopped = true;
    this.disarm();
  }

  private arm(ms: number): void {
    if (this.cancel || this.isBlocked || this.isStopped) return;
    this.cancel = this.clock.after(ms, () => {
      this.cancel = undefined;
      this.check();
    });
  }

  private disarm(): void {
    this.cancel?.();
    this.cancel = undefined;
  }

  /** One timer at a time, re-armed for what is left since the last confirm (not one per confirm). */
  private check(): void {
    if (this.waiting === 0 || this.isBlocked || this.isStopped) return;
    const silentMs = this.clock.now() - this.lastProgressAt;
    if (silentMs >= this.timeoutMs) {
      this.stop();
      this.onStall(silentMs);
      return;
    }
    this.arm(this.timeoutMs - silentMs);
  }
}
