/**
 * Which of this node's inbox messages are applied, as one safe mark. The mark (ClusterStore's
 * `applied.<node>`) tells whoever reads the inbox after a crash — this node restarted, or its
 * adopter — that every message up to it has its effects stored, so those are acked unread. A
 * batch whose deliveries wait (for a claim, or an owner look-up before they go on) finishes after
 * later ones: a high-water mark would then pass it, and after a crash it would be skipped although
 * its effects were never stored — acknowledged messages lost. So the mark never passes a
 * sequence begun and not yet finished.
 */
export class InboxProgress {
  /** Begun, not finished (a failed one stays here until its redelivery finishes). */
  private readonly open = new Set<number>();
  private highestFinished = 0;

  begin(seq: number): void {
    this.open.add(seq);
  }

  /** The batch's effects are added to the commit log: returns the mark now safe to write (0: none). */
  finish(seq: number): number {
    this.open.delete(seq);
    if (seq > this.highestFinished) this.highestFinished = seq;
    let lowestOpen = Number.POSITIVE_INFINITY;
    for (const open of this.open) if (open < lowestOpen) lowestOpen = open;
    return Math.min(this.highestFinished, lowestOpen - 1);
  }
}
