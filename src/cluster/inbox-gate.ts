/**
 * The order in which inbox batches are applied on this node. Held while something must happen
 * first — a claim restoring a session released by another node (handover.ts), or a delivery
 * following a session here that waits for such a claim (peer-router.ts) — later batches wait,
 * and are applied in order once no hold is left.
 */
export class InboxGate {
  private holds = 0;
  private readonly waiting: Array<() => void> = [];

  run(apply: () => void): void {
    if (this.holds === 0 && this.waiting.length === 0) apply();
    else this.waiting.push(apply);
  }

  /** Returns the release of this hold (idempotent). */
  hold(): () => void {
    this.holds++;
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      this.holds--;
      while (this.holds === 0 && this.waiting.length > 0) this.waiting.shift()!();
    };
  }
}
