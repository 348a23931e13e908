/**
 * This node's lease on the cluster, renewed by every heartbeat the engine stores. Other nodes
 * adopt a node only after a lease (6 s, NODE_LEASE_MS) of silence and unanswered pings, so a node
 * whose last stored heartbeat is younger than FENCE_AFTER_MS (4 s) is certainly not adopted yet:
 * what it acknowledges now (its writes are committed, the adopter would read them) is safe. Past
 * that, acknowledgements wait for the next stored heartbeat — a paused node that wakes up does
 * not acknowledge what it wrote after another node may have taken its sessions over; its next
 * beat either renews the lease or finds the adoption and fences the node for good (revoke).
 */
export const FENCE_AFTER_MS = 4000;

export class Lease {
  /** Undefined until the first heartbeat is stored: a node still starting up is not judged by it. */
  private renewedAt: number | undefined;
  private isRevoked = false;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly validMs = FENCE_AFTER_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** A heartbeat was stored. */
  renew(): void {
    if (this.isRevoked) return;
    this.renewedAt = this.now();
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Adopted by another node: never valid again (waiting acknowledgements are never sent). */
  revoke(): void {
    this.isRevoked = true;
    this.waiters = [];
  }

  /** Milliseconds since the last stored heartbeat (0 before the first). */
  get age(): number {
    return this.renewedAt === undefined ? 0 : this.now() - this.renewedAt;
  }

  get isValid(): boolean {
    return !this.isRevoked && this.age < this.validMs;
  }

  /** Undefined while valid; otherwise resolves at the next renewal (never once revoked). */
  whenValid(): Promise<void> | undefined {
    if (this.isValid) return undefined;
    return new Promise((resolve) => {
      if (!this.isRevoked) this.waiters.push(resolve);
    });
  }
}
