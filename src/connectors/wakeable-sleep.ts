/**
 * Sleeps a connector or source waits out (backoff, pause) that its stop, resume or pause can cut
 * short: `wakeAll()` resolves every pending sleep at once, so a stopping connector never waits
 * out a backoff of minutes.
 */
export class WakeableSleeps {
  private readonly sleepers = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  wakeAll(): void {
    for (const wake of [...this.sleepers]) wake();
  }
}
