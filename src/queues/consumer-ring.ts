/**
 * The consumers of one queue on this broker (node): the sessions subscribed to `$queue/<name>`,
 * in subscription order, and which one gets the next message — round-robin, or the one with the
 * fewest unacknowledged (least-in-flight) — among those connected with room in their window.
 */
import type { QueueConfig } from '../config/index.js';
import type { Session } from '../session/index.js';
import type { SubscriptionRecord } from '../store/index.js';

export interface Consumer {
  clientId: string;
  subscription: SubscriptionRecord;
  /** Deliveries it holds unacknowledged. */
  inflight: number;
}

export class ConsumerRing {
  /** By client id, in subscription order (the round-robin ring). */
  private readonly consumers = new Map<string, Consumer>();
  private cursor = 0;

  constructor(
    private readonly dispatch: QueueConfig['dispatch'],
    /** Deliveries one consumer holds unacknowledged at most (the broker's maxInflight). */
    private readonly window: number,
    private readonly session: (clientId: string) => Session | undefined,
  ) {}

  /** Returns the consumer, and whether it is new (an existing one gets the new options). */
  add(clientId: string, subscription: SubscriptionRecord): { consumer: Consumer; isNew: boolean } {
    const existing = this.consumers.get(clientId);
    if (existing) {
      existing.subscription = subscription;
      return { consumer: existing, isNew: false };
    }
    const consumer: Consumer = { clientId, subscription, inflight: 0 };
    this.consumers.set(clientId, consumer);
    return { consumer, isNew: true };
  }

  get(clientId: string): Consumer | undefined {
    return this.consumers.get(clientId);
  }

  delete(clientId: string): boolean {
    return this.consumers.delete(clientId);
  }

  has(clientId: string): boolean {
    return this.consumers.has(clientId);
  }

  get size(): number {
    return this.consumers.size;
  }

  values(): IterableIterator<Consumer> {
    return this.consumers.values();
  }

  isConnected(consumer: Consumer): boolean {
    return this.session(consumer.clientId)?.isOnline === true;
  }

  get connectedCount(): number {
    let connected = 0;
    for (const consumer of this.consumers.values()) if (this.isConnected(consumer)) connected++;
    return connected;
  }

  /** Room left in the windows of the connected consumers (how much may be handed out now). */
  get room(): number {
    let room = 0;
    for (const consumer of this.consumers.values()) if (this.isConnected(consumer)) room += Math.max(0, this.window - consumer.inflight);
    return room;
  }

  /** The connected consumer with room that gets the next message, if any; `isTaking` moves the ring on. */
  pick(isTaking: boolean): Consumer | undefined {
    const ring = [...this.consumers.values()];
    const n = ring.length;
    if (n === 0) return undefined;
    let best: Consumer | undefined;
    for (let i = 0; i < n; i++) {
      const index = (this.cursor + i) % n;
      const consumer = ring[index]!;
      if (consumer.inflight >= this.window || !this.isConnected(consumer)) continue;
      if (this.dispatch === 'round-robin') {
        if (isTaking) this.cursor = (index + 1) % n;
        return consumer;
      }
      if (!best || consumer.inflight < best.inflight) best = consumer;
    }
    if (best && isTaking) this.cursor = (ring.indexOf(best) + 1) % n;
    return best;
  }
}
