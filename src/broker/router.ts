/**
 * The router: which sessions a PUBLISH goes to, and the retained messages. It asks the pure trie
 * for matching subscriptions, folds overlapping ones into one delivery per session (highest QoS,
 * every subscription identifier) [3.1.1 MQTT-3.3.5-1] [5.0 MQTT-3.3.4-2] [5.0 MQTT-3.3.4-3], and hands each delivery to its session.
 * The retained messages themselves (bounds, store writes) are RetainedMessages', in retained-messages.ts.
 */
import type { QoS } from '../protocol/index.js';
import { DeliveryOutcome, type Session, type SessionRegistry } from '../session/index.js';
import type { CommitLog, Message, SubscriptionRecord } from '../store/index.js';
import { parseSharedFilter, RetainedIndex, SubscriptionTrie, type TrieEntry } from '../topics/index.js';
import { RetainedMessages, type RetainedBounds } from './retained-messages.js';
import { SharedGroup, type SharedStrategy } from './shared-group.js';

/** What the trie holds: per (filter, client), or one entry per shared group. */
export type RouteTarget =
  | { clientId: string; subscription: SubscriptionRecord; group?: undefined }
  | { clientId?: undefined; subscription?: undefined; group: SharedGroup };

/** Trie keys of shared groups cannot collide with client ids: NUL is not allowed in either. */
const SHARED_KEY_PREFIX = '\u0000share\u0000';

export interface RouterOptions extends RetainedBounds {
  /** Per-delivery read permission (ACL); absent when subscribe-time checks suffice. */
  canReceive?: (session: Session, topic: string) => boolean;
  sharedStrategy: SharedStrategy;
}

/**
 * Cluster mode: the subscribers on other nodes. The router tells it which filters this node holds
 * and hands it every message it routes; a single node has none.
 */
export interface PeerRouting {
  /** Sends the message to the other nodes with matching subscribers; returns how many. */
  forward(message: Message, publisherId: string | undefined): number;
  filterAdded(filter: string): void;
  filterRemoved(filter: string): void;
  /** Whether this node delivers the message being routed to its member of the shared group. */
  isSharedHere(groupKey: string): boolean;
  /**
   * Routes a QoS 2 message with a routing id again, idempotently: every destination, this node
   * included, through its inbox under an id the engine deduplicates (a resend after the
   * publisher's first node died). Returns how many nodes it went to.
   */
  reroute(message: Message, publisherId: string | undefined): number;
}

/**
 * Durable queues (src/queues/): a `$queue/<name>` subscription makes its session a consumer of
 * the queue; it is the queue's to serve, not a trie entry. Undefined when no queue is configured.
 */
export interface QueueRouting {
  /** Whether the filter is a `$queue/` one (configured or not). */
  isQueueFilter(filter: string): boolean;
  /** Whether it names a configured queue. */
  hasQueue(filter: string): boolean;
  /** Returns whether the session was not a consumer of that queue before. */
  consumerAdded(clientId: string, subscription: SubscriptionRecord): boolean;
  /** Returns whether the session was a consumer of that queue. */
  consumerRemoved(clientId: string, filter: string): boolean;
  /** A session came online: the queues it consumes may send to it now. */
  sessionOnline(session: Session): void;
  /** Cluster mode: the queues take messages published on this node themselves (into the engine). */
  readonly capturesPublishes?: boolean;
  /** Hands a message published on this node to the queues that capture it; returns how many took it. */
  capture?(message: Message, publisherId: string | undefined): number;
  /** Of the last `capture`: when only `reject` queues took it, whether their streams refused it (read after the commit). */
  readonly lastCaptureVerdict?: QuotaVerdict | undefined;
}

/** Known once the commit holding a publish is done: whether every destination refused it at its bound. */
export interface QuotaVerdict {
  readonly isRefused: boolean;
}

/** A session's combined delivery while several of its subscriptions match one message. */
interface PendingDelivery {
  qos: QoS;
  isRetainAsPublished: boolean;
  subscriptionIds: number[] | undefined;
}

export class Router {
  private readonly trie = new SubscriptionTrie<RouteTarget>();
  /** The retained messages by topic (kept by RetainedMessages: bounds, store writes). */
  readonly retained: RetainedIndex<Message>;
  private readonly retainedMessages: RetainedMessages;
  /** Reused across publishes so overlapping-subscription folding allocates only on overlap. */
  private readonly pending = new Map<string, PendingDelivery>();
  private readonly sharedGroups = new Map<string, SharedGroup>();
  private readonly sharedStrategy: SharedStrategy;
  private subscriptions = 0;
  /**
   * Of the last `route` call: how many matching sessions refused the message at their queue bound
   * (a field, not a returned object: route runs once per PUBLISH).
   */
  lastRefusedByQuota = 0;
  /**
   * Of the last `route` call, cluster mode: set when only `reject` queues took the message, whose
   * streams answer after the commit; the PUBACK then says 0x97 if they all refused it.
   */
  lastQuotaVerdict: QuotaVerdict | undefined;
  /** Set by the cluster service; undefined on a single node. */
  peers: PeerRouting | undefined;
  /** Set at composition when queues are configured (before recovery restores their consumers). */
  queues: QueueRouting | undefined;

  constructor(
    private readonly sessions: SessionRegistry,
    committer: CommitLog,
    private readonly options: RouterOptions,
  ) {
    this.sharedStrategy = options.sharedStrategy;
    this.retainedMessages = new RetainedMessages(committer, options);
    this.retained = this.retainedMessages.index;
  }

  get subscriptionCount(): number {
    return this.subscriptions;
  }

  addSubscription(clientId: string, subscription: SubscriptionRecord): void {
    if (this.queues?.isQueueFilter(subscription.filter)) {
      if (this.queues.consumerAdded(clientId, subscription)) this.subscriptions++;
      return;
    }
    const shared = parseSharedFilter(subscription.filter);
    if (!shared) {
      if (this.trie.add(subscription.filter, clientId, { clientId, subscription })) {
        this.subscriptions++;
        this.peers?.filterAdded(subscription.filter);
      }
      return;
    }
    const key = `${shared.group}/${shared.filter}`;
    let group = this.sharedGroups.get(key);
    if (!group) {
      group = new SharedGroup(key, shared.filter);
      this.sharedGroups.set(key, group);
      this.trie.add(shared.filter, SHARED_KEY_PREFIX + shared.group, { group });
    }
    const before = group.size;
    group.add(clientId, subscription);
    if (group.size > before) {
      this.subscriptions++;
      this.peers?.filterAdded(subscription.filter);
    }
  }

  removeSubscription(clientId: string, filter: string): void {
    if (this.queues?.isQueueFilter(filter)) {
      if (this.queues.consumerRemoved(clientId, filter)) this.subscriptions--;
      return;
    }
    const shared = parseSharedFilter(filter);
    if (!shared) {
      if (this.trie.remove(filter, clientId)) {
        this.subscriptions--;
        this.peers?.filterRemoved(filter);
      }
      return;
    }
    const key = `${shared.group}/${shared.filter}`;
    const group = this.sharedGroups.get(key);
    if (!group?.remove(clientId)) return;
    this.subscriptions--;
    this.peers?.filterRemoved(filter);
    if (group.size === 0) {
      this.sharedGroups.delete(key);
      this.trie.remove(shared.filter, SHARED_KEY_PREFIX + shared.group);
    }
  }

  /**
   * A member left (disconnected or unsubscribed): what it was given through a shared group and
   * has not started on goes to another member, so nothing waits on a member that is gone.
   * In-flight QoS 2 stays with it [5.0 MQTT-4.8.2-4].
   */
  redistributeShared(session: Session, onlyGroupKey?: string): number {
    let moved = 0;
    const canMove = (key: string): boolean =>
      (onlyGroupKey === undefined || key === onlyGroupKey) &&
      this.sharedGroups.get(key)?.hasOtherMember(this.sessions, session.clientId) === true;
    for (const record of session.takeSharedDeliveries(canMove)) {
      const group = this.sharedGroups.get(record.shareGroup!)!;
      const member = group.pick(this.sessions, this.sharedStrategy, undefined, session.clientId)!;
      const target = this.sessions.get(member.clientId)!;
      const qos = (record.message.qos < member.subscription.qos ? record.message.qos : member.subscription.qos) as QoS;
      target.deliver(record.message, qos, false, idsOf(member.subscription), group.key);
      moved++;
    }
    return moved;
  }

  /** Cluster: whether a member of the group other than `exclude` is online on this node. */
  hasOnlineSharedMember(groupKey: string, exclude?: string): boolean {
    const group = this.sharedGroups.get(groupKey);
    return group !== undefined && group.memberIds.some((id) => id !== exclude && this.sessions.get(id)?.isOnline === true);
  }

  /**
   * A member comes online: the messages its groups gave to offline members while nobody was
   * online wait for the group, not for that one member — they move to this one now. An offline
   * member whose deliveries are still on disk (a restart) is read in with `loadMember` first, and
   * its share moves once that is done; without `loadMember` it stays put.
   */
  gatherShared(session: Session, loadMember?: (member: Session) => Promise<void>): number {
    // The same moment serves durable queues: a consumer online is one they may send to.
    this.queues?.sessionOnline(session);
    let moved = 0;
    for (const [key, group] of this.sharedGroups) {
      if (!group.has(session.clientId)) continue;
      for (const memberId of [...group.memberIds]) {
        const member = memberId === session.clientId ? undefined : this.sessions.get(memberId);
        if (!member || member.isOnline) continue;
        if (member.isOutgoingLoaded) moved += this.redistributeShared(member, key);
        else if (loadMember) {
          // Moved only while this member is still online and the other still offline by then.
          void loadMember(member).then(
            () => {
              if (session.isOnline && !member.isOnline) this.redistributeShared(member, key);
            },
            () => undefined, // left on disk for its own reconnect, as without loadMember
          );
        }
      }
    }
    return moved;
  }

  /** Stores or deletes the retained message of the topic (RetainedMessages.retain). */
  retain(message: Message, isEphemeral = false): void {
    this.retainedMessages.retain(message, isEphemeral);
  }

  get retainedByteCount(): number {
    return this.retainedMessages.byteCount;
  }

  /** Forgets a retained message deleted elsewhere (cluster: another node's publish); no store write. */
  forgetRetained(topic: string): void {
    this.retainedMessages.forget(topic);
  }

  /** Restores a retained message read from the store (no write back). */
  restoreRetained(message: Message): void {
    this.retainedMessages.restore(message);
  }

  /**
   * Delivers a message to every session with a matching subscription; returns how many sessions
   * it went to. `publisherId` lets No Local subscriptions skip their own messages [5.0 MQTT-3.8.3-3].
   * An ephemeral retained message ($SYS) is kept in memory only, never written to the store.
   */
  route(message: Message, publisherId: string | undefined, isEphemeralRetain = false): number {
    this.lastRefusedByQuota = 0;
    if (message.retain) this.retain(message, isEphemeralRetain);
    const remote = this.peers && !isEphemeralRetain ? this.peers.forward(message, publisherId) : 0;
    // Cluster queues: once, on the node it was published on (not in routeLocal, which other nodes' messages take).
    const queued = this.queues?.capturesPublishes === true && !isEphemeralRetain ? this.queues.capture!(message, publisherId) : 0;
    const local = this.routeLocal(message, publisherId);
    this.lastQuotaVerdict = queued > 0 && remote + local === 0 ? this.queues!.lastCaptureVerdict : undefined;
    return remote + queued + local;
  }

  /** Cluster mode: QoS 2 from clients carries a routing id and is routed only after its incoming record commits. */
  get hasIdempotentQos2(): boolean {
    return this.peers !== undefined;
  }

  /** Routes a QoS 2 message again under its routing id (PeerRouting.reroute; cluster mode only). */
  reroute(message: Message, publisherId: string | undefined): number {
    this.lastRefusedByQuota = 0;
    this.lastQuotaVerdict = undefined;
    return this.peers ? this.peers.reroute(message, publisherId) : this.route(message, publisherId);
  }

  /** Delivers to this node's subscribers only (cluster: a message another node routed here). */
  routeLocal(message: Message, publisherId: string | undefined): number {
    const matches = this.trie.match(message.topic);
    if (matches.length === 0) return 0;
    if (matches.length === 1) return this.deliverOne(matches[0]!, message, publisherId) ? 1 : 0;
    return this.deliverMany(matches, message, publisherId);
  }

  /** One member of the group gets the message; retained flag as for any established subscription. */
  private deliverShared(group: SharedGroup, message: Message, publisherId: string | undefined): boolean {
    // Cluster: one node of the group takes each message; the others skip it.
    if (this.peers && !this.peers.isSharedHere(group.key)) return false;
    const member = group.pick(this.sessions, this.sharedStrategy, publisherId);
    if (!member) return false;
    const session = this.sessions.get(member.clientId)!;
    if (this.options.canReceive && !this.options.canReceive(session, message.topic)) return false;
    const subscription = member.subscription;
    const qos = (message.qos < subscription.qos ? message.qos : subscription.qos) as QoS;
    return this.counted(session.deliver(message, qos, subscription.retainAsPublished && message.retain, idsOf(subscription), group.key));
  }

  /**
   * Whether the delivery counts as made: taken, or not kept by rule (QoS 0 to an offline
   * client: the subscriber's own choice). A refusal at the queue bound is remembered instead.
   */
  private counted(outcome: DeliveryOutcome): boolean {
    if (outcome !== DeliveryOutcome.RefusedByQuota) return true;
    this.lastRefusedByQuota++;
    return false;
  }

  private deliverOne(entry: TrieEntry<RouteTarget>, message: Message, publisherId: string | undefined): boolean {
    if (entry.value.group) return this.deliverShared(entry.value.group, message, publisherId);
    const { clientId, subscription } = entry.value;
    if (subscription.noLocal && clientId === publisherId) return false;
    const session = this.sessions.get(clientId);
    if (!session) return false;
    if (this.options.canReceive && !this.options.canReceive(session, message.topic)) return false;
    const qos = (message.qos < subscription.qos ? message.qos : subscription.qos) as QoS;
    // Retain is cleared for established subscriptions unless Retain As Published [3.1.1 MQTT-3.3.1-9] [5.0 MQTT-3.3.1-12] [5.0 MQTT-3.3.1-13].
    const retain = subscription.retainAsPublished && message.retain;
    return this.counted(session.deliver(message, qos, retain, idsOf(subscription)));
  }

  private deliverMany(matches: readonly TrieEntry<RouteTarget>[], message: Message, publisherId: string | undefined): number {
    const pending = this.pending;
    pending.clear();
    let delivered = 0;
    for (const entry of matches) {
      if (entry.value.group) {
        // A shared subscription is a delivery of its own, never folded with the member's others.
        if (this.deliverShared(entry.value.group, message, publisherId)) delivered++;
        continue;
      }
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
    for (const [clientId, delivery] of pending) {
      const session = this.sessions.get(clientId);
      if (!session) continue;
      if (this.options.canReceive && !this.options.canReceive(session, message.topic)) continue;
      if (this.counted(session.deliver(message, delivery.qos, delivery.isRetainAsPublished && message.retain, delivery.subscriptionIds))) delivered++;
    }
    pending.clear();
    return delivered;
  }
}

function idsOf(subscription: SubscriptionRecord): number[] | undefined {
  return subscription.subscriptionId === undefined ? undefined : [subscription.subscriptionId];
}
