/**
 * The broker's incident lines: states that last (a full session queue, a full retained store, a
 * store that cannot write) logged so that a flood of them stays a few lines — the counts are in
 * the counters table ($SYS, /api/v1/stats, /metrics), the lines only say it is happening.
 */
import type { Logger } from '../observability/index.js';
import type { DropReason, Session } from '../session/index.js';
import type { Message, StoreHealth } from '../store/index.js';
import type { BrokerStats } from './stats.js';

export class IncidentLog {
  /** When a session's last 'queue full' line was logged (one a second at most). */
  private readonly queueFullLoggedAt = new WeakMap<Session, number>();

  constructor(
    private readonly logger: Logger,
    private readonly stats: BrokerStats,
    private readonly now: () => number,
  ) {}

  /** A delivery not made: counted by reason; a full queue is logged at most once a second per session. */
  dropped(session: Session, reason: DropReason, message: Message): void {
    this.stats.dropped[reason]++;
    if (reason !== 'queue-full') return;
    // A full queue is a flood by nature; the counts are in the session's admin view, $SYS and /metrics.
    const now = this.now();
    const last = this.queueFullLoggedAt.get(session);
    if (last !== undefined && now - last < 1000) return;
    this.queueFullLoggedAt.set(session, now);
    this.logger.warn(
      { clientId: session.clientId, topic: message.topic, queued: session.queuedCount, droppedForSession: session.dropped['queue-full'], policy: session.overflowPolicy },
      session.overflowPolicy === 'drop-oldest' ? 'queue full; oldest messages are dropped' : 'queue full; newest messages are refused',
    );
  }

  /** A retained message not kept (the retained store is at a bound): counted; one line per hundred. */
  retainRefused(message: Message, retainedCount: number): void {
    this.stats.retainedRefused++;
    // A full retained store is a steady state, not an event.
    if (this.stats.retainedRefused % 100 === 1) {
      this.logger.warn({ topic: message.topic, retained: retainedCount }, 'retained store full; new retained topics are not kept');
    }
  }

  /** One line when store writes start failing (a full disk) and one when they work again: never one per batch or per connection. */
  storeHealthChanged(health: Readonly<StoreHealth>, error: Error | undefined): void {
    if (!health.isWritable) {
      this.logger.error({ err: error }, 'store writes failing (disk full?): acknowledgements are withheld, QoS 0 still flows; retrying until a write succeeds');
    } else {
      this.logger.warn({ failedForMs: Date.now() - (health.since ?? Date.now()), failedAttempts: health.failedAttempts }, 'store writable again: withheld acknowledgements sent');
    }
  }
}
