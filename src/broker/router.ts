/**
 * The router: which sessions a PUBLISH goes to, and the retained messages. It asks the pure trie
 * for matching subscriptions, folds overlapping ones into one delivery per session (highest QoS,
 * every subscription identifier) [MQTT-3.3.5-1], and hands each delivery to its session.
 */
import type { QoS } from '../protocol/index.js';
import type { SessionRegistry } from '../session/index.js';
import type { GroupCommitter, Message, SubscriptionRecord } from '../store/index.js';
import { RetainedIndex, SubscriptionTrie, type TrieEntry } from '../topics/index.js';

/** What the trie holds per (filter, client). */
export interface RouteTarget {
  clientId: string;
  subscription: SubscriptionRecord;
}

export interface RetainLimits {
  maxRetainedMessages: number;
  maxRetainedBytes: number;
  onRetainRefused(message: Message): void;
}

/** A session's combined delivery while several of its subscriptions match one message. */
interface PendingDelivery {
  qos: QoS;
  isRetainAsPublished: boolean;
  subscriptionIds: number[] | undefined;
}

export class Router {
  private readonly trie = new SubscriptionTrie<RouteTarget>();
  readonly retained = new RetainedIndex<Message>();
  /** Reused across publishes so overlapping-subscription folding allocates only on overlap. */
  private readonly pending = new Map<string, PendingDelivery>();

  private retainedBytes = 0;

  constructor(
    private readonly sessions: SessionRegistry,
    private readonly committer: GroupCommitter,
    private readonly retainLimits: RetainLimits,
  ) {}

  get subscriptionCount(): number {
    return this.trie.size;
  }

  addSubscription(clientId: string, subscription: SubscriptionRecord): void {
    this.trie.add(subscription.filter, clientId, { clientId, subscription });
  }

  removeSubscription(clientId: string, filter: string): void {
    this.trie.remove(filter, clientId);
  }

  /** Stores or deletes the retained message of the topic (an empty payload deletes) [MQTT-3.3.1-5..7]. */
  retain(message: Message): void {
    const previous = this.retained.get(message.topic);
    if (message.payload.length === 0) {
      if (previous) {
        this.retained.delete(message.topic);
        this.retainedBytes -= previous.payload.length;
        this.committer.add({ type: 'deleteRetained', topic: message.topic });
      }
      return;
    }
    const bytesAfter = this.retainedBytes - (previous?.payload.length ?? 0) + message.payload.length;
    const countAfter = this.retained.size + (previous ? 0 : 1);
    if (countAfter > this.retainLimits.maxRetainedMessages || bytesAfter > this.retainLimits.maxRetainedBytes) {
      // At the bound the message is still delivered, just not kept; the old value stays.
      this.retainLimits.onRetainRefused(message);
      return;
    }
    this.retained.set(message.topic, message);
    this.retainedBytes = bytesAfter;
    this.committer.add({ type: 'putRetained', message });
  }

  get retainedByteCount(): number {
    return this.retainedBytes;
  }

  /** Restores a retained message read from the store (no write back). */
  restoreRetained(message: Message): void {
    const previous = this.retained.get(message.topic);
    this.retainedBytes += message.payload.length - (previous?.payload.length ?? 0);
    this.retained.set(message.topic, message);
  }

  /**
   * Delivers a message to every session with a matching subscription; returns how many sessions
   * it went to. `publisherId` lets No Local subscriptions skip their own messages [MQTT-3.8.3-3].
   */
  route(message: Message, publisherId: string | undefined): number {
    if (message.retain) this.retain(message);
    const matches = this.trie.match(message.topic);
    if (matches.length === 0) return 0;
    if (matches.length === 1) return this.deliverOne(matches[0]!, message, publisherId) ? 1 : 0;
    return this.deliverMany(matches, message, publisherId);
  }

  private deliverOne(entry: TrieEntry<RouteTarget>, message: Message, publisherId: string | undefined): boolean {
    const { clientId, subscription } = entry.value;
    if (subscription.noLocal && clientId === publisherId) return false;
    const session = this.sessions.get(clientId);
    if (!session) return false;
    const qos = (message.qos < subscription.qos ? message.qos : subscription.qos) as QoS;
    // Retain is cleared for established subscriptions unless Retain As Published [MQTT-3.3.1-9, MQTT-3.3.1-12].
    const retain = subscription.retainAsPublished && message.retain;
    session.deliver(message, qos, retain, subscription.subscriptionId === undefined ? undefined : [subscription.subscriptionId]);
    return true;
  }

  private deliverMany(matches: readonly TrieEntry<RouteTarget>[], message: Message, publisherId: string | undefined): number {
    const pending = this.pending;
    pending.clear();
    for (const entry of matches) {
      const { clientId, subscription } = entry.value;
      if (subscription.noLocal && clientId === publisherId) continue;
      const qos = (message.qos < subscription.qos ? message.qos : subscription.qos) as QoS;
      const existing = pending.get(clientId);
      if (!existing) {
        pending.set(clientId, {
          qos,
          isRetainAsPublished: subscription.retainAsPublished,
          subscriptionIds: subscription.subscriptionId === undefined ? undefined : [subscription.subscriptionId],
        });
        continue;
      }
      if (qos > existing.qos) existing.qos = qos;
      existing.isRetainAsPublished ||= subscription.retainAsPublished;
      if (subscription.subscriptionId !== undefined) (existing.subscriptionIds ??= []).push(subscription.subscriptionId);
    }
    let delivered = 0;
    for (const [clientId, delivery] of pending) {
      const session = this.sessions.get(clientId);
      if (!session) continue;
      session.deliver(message, delivery.qos, delivery.isRetainAsPublished && message.retain, delivery.subscriptionIds);
      delivered++;
    }
    pending.clear();
    return delivered;
  }
}
