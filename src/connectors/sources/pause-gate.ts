/**
 * A source backend's "take no new records" switch, set by the operator's pause and resume.
 * Polling backends wait on it before each read; `interrupt()` (a stop) lets every waiter go so
 * it can see the stop.
 */
export class PauseGate {
  private isClosed = false;
  private waiters: Array<() => void> = [];

  get isPaused(): boolean {
    return this.isClosed;
  }

  set(isPaused: boolean): void {
    this.isClosed = isPaused;
    if (!isPaused) this.interrupt();
  }

  /** Resolves at once while open; otherwise on resume or interrupt. */
  whenOpen(): Promise<void> {
    if (!this.isClosed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  interrupt(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}
