/**
 * One client's session: its subscriptions, the deliveries it is owed, the QoS 2 packet ids it has
 * sent us and not yet released, and its will. A façade over parts with one job each:
 * `DeliveryQueue` (the bounded FIFO), `InflightWindow` (packet ids and the send window),
 * `DeliverySender` (queue → flight, and what may leave only after a commit), `DeliveryCompletion`
 * (how a delivery in flight ends: PUBACK, PUBREC/PUBCOMP, abandon, shared-group moves),
 * `DeliveryJournal` (every store write about deliveries, and the lazy load after a restart),
 * `BorrowedDeliveries` (those made for a durable queue, which keeps their stored copy) and
 * `IncomingQos2Ids`. It talks to whatever connection holds it through `SessionLink`, so this
 * module never imports the broker.
 *
 * Over ~350 lines (about 500 with the cluster's routed copies and the queues' record rewrite): what is left is the façade the broker, the queues and the cluster call —
 * `deliver` and `deliverBorrowed` (which choose between the live path, the queue and the store),
 * attach/detach/discard, the in-process consumers' configuration, and one-line delegations to the
 * parts. The next cut would be `deliverBorrowed` into `BorrowedDeliveries`; it needs the link, the
 * queue, the window and the sender, so it was left here rather than passed five of them.
 */
import type { CommitLog, Message, OutgoingRecord, OutgoingSpan, SessionRecord, StoreOp, SubscriptionRecord, WillRecord } from '../store/index.js';
import type { ProtocolVersion, QoS } from '../protocol/index.js';
import { BorrowedDeliveries, type DeliveryOwner } from './borrowed-deliveries.js';
import { DeliveryCompletion } from './delivery-completion.js';
import { DeliveryJournal } from './delivery-journal.js';
import { DeliveryQueue, type EvictionKind, type OverflowPolicy } from './delivery-queue.js';
import { DeliverySender } from './delivery-sender.js';
import { IncomingQos2Ids } from './incoming-qos2.js';
import { InflightWindow } from './inflight-window.js';
import { RoutedCopies } from './routed-copies.js';
import { DeliveryOutcome, type DropReason, type SessionLimits, type SessionLink } from './types.js';

export type { DropReason, SessionLimits, SessionLink } from './types.js';
export type { DeliveryOwner } from './borrowed-deliveries.js';

export interface SessionEvents {
  onDrop(session: Session, reason: DropReason, message: Message): void;
  /** The broker's clock (injected, so expiry rules are testable without waiting). */
  now(): number;
}

export { DeliveryOutcome } from './types.js';

export class Session {
  protocolVersion: ProtocolVersion;
  /** Seconds the session outlives its connection (0 = ends with it, 0xFFFFFFFF = never). */
  expiryInterval: number;
  disconnectedAt: number | undefined;
  will: WillRecord | undefined;
  /** The user name the client authenticated with (ACL checks while it is offline too). */
  username: string | undefined;
  readonly subscriptions = new Map<string, SubscriptionRecord>();
  /** Deliveries dropped for this session, by reason (admin API, $SYS, metrics). */
  readonly dropped: Record<DropReason, number> = { 'queue-full': 0, 'offline-qos0': 0, expired: 0, 'too-large': 0 };

  private link: SessionLink | undefined;
  /** Changes whenever a connection attaches, so late callbacks can tell they are stale. */
  private linkEpoch = 0;
  private readonly queue: DeliveryQueue;
  private readonly inflight: InflightWindow;
  private readonly journal: DeliveryJournal;
  private readonly sender: DeliverySender;
  /** QoS 2 packet ids received and PUBRECed, awaiting PUBREL [3.1.1 MQTT-4.3.3-2]. */
  private readonly incomingQos2: IncomingQos2Ids;
  private nextSeq = 1;
  /** Deliveries made for an owner that keeps their durable copy. */
  private readonly borrowed = new BorrowedDeliveries();
  private readonly completion: DeliveryCompletion;
  /** Routing ids of the QoS 2 messages taken (cluster mode; made on first use). */
  private routedCopies: RoutedCopies | undefined;
  /** A refusal at the queue bound is reported to the router as "not kept" instead (nobody is told 0x97). */
  private isRefusalSilent = false;
  /**
   * An in-process session whose topics the operator configured (a durable queue, its dead
   * letters): the ACL's per-delivery read rules are not asked about what it is given (its id
   * has no user; the rules apply to the clients it hands messages to).
   */
  isExemptFromReadRules = false;

  constructor(
    readonly clientId: string,
    protocolVersion: ProtocolVersion,
    expiryInterval: number,
    private readonly commitLog: CommitLog,
    private limits: SessionLimits,
    private events: SessionEvents,
  ) {
    this.protocolVersion = protocolVersion;
    this.expiryInterval = expiryInterval;
    this.queue = new DeliveryQueue({ maxMessages: limits.maxQueuedMessages, maxBytes: limits.maxQueuedBytes }, 'refuse-newest', () => events.now());
    this.inflight = new InflightWindow(limits.maxInflight);
    this.journal = new DeliveryJournal(clientId, commitLog, () => this.isPersistent);
    this.incomingQos2 = new IncomingQos2Ids(clientId, (op) => this.journal.persist(op));
    const session = this;
    const host = {
      get link(): SessionLink | undefined {
        return session.link;
      },
      get linkEpoch(): number {
        return session.linkEpoch;
      },
      get isPersistent(): boolean {
        return session.isPersistent;
      },
      now: (): number => this.events.now(),
      expired: (record: OutgoingRecord): void => {
        this.drop('expired', record.message);
        this.borrowed.settle(record, 'dropped');
      },
      drop: (reason: DropReason, message: Message): void => this.drop(reason, message),
      pump: (): void => this.pump(),
    };
    this.sender = new DeliverySender(host, this.queue, this.inflight, this.journal, commitLog);
    this.completion = new DeliveryCompletion(host, this.inflight, this.queue, this.journal, this.sender, this.borrowed);
  }

  /**
   * For an in-process consumer (a connector): its own queue bounds and window, QoS 0 deliveries
   * kept and acknowledged like QoS 1 (most sensors publish QoS 0), and its own drop count.
   */
  configureInternal(options: {
    limits?: Partial<SessionLimits>;
    storesQos0?: boolean;
    onDrop?: (reason: DropReason) => void;
    isRefusalSilent?: boolean;
    isExemptFromReadRules?: boolean;
  }): void {
    if (options.isRefusalSilent !== undefined) this.isRefusalSilent = options.isRefusalSilent;
    if (options.isExemptFromReadRules !== undefined) this.isExemptFromReadRules = options.isExemptFromReadRules;
    if (options.limits) {
      this.limits = { ...this.limits, ...options.limits };
      this.queue.setBounds({ maxMessages: this.limits.maxQueuedMessages, maxBytes: this.limits.maxQueuedBytes });
      this.inflight.setMaxInflight(this.limits.maxInflight);
    }
    if (options.storesQos0 !== undefined) this.storesQos0 = options.storesQos0;
    const { onDrop } = options;
    if (onDrop) {
      const events = this.events;
      this.events = { now: () => events.now(), onDrop: (session, reason, message) => (events.onDrop(session, reason, message), onDrop(reason)) };
    }
  }

  private storesQos0 = false;

  /** A session that outlives its connection is written to the store; one that does not is not. */
  get isPersistent(): boolean {
    return this.expiryInterval > 0;
  }

  get isOnline(): boolean {
    return this.link !== undefined;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  get queuedCount(): number {
    return this.queue.size;
  }

  /** Epoch ms at which the oldest delivery in the in-memory queue was queued; undefined when empty. */
  get oldestQueuedAt(): number | undefined {
    return this.queue.oldestQueuedAt;
  }

  get queuedBytes(): number {
    return this.queue.byteSize;
  }

  /**
   * At the queue bound, what gives way once no QoS 0 delivery is left to: the newest (the default:
   * what was queued first is kept, as Mosquitto does) or the oldest (bridges: after a long outage
   * the freshest readings matter most).
   */
  get overflowPolicy(): OverflowPolicy {
    return this.queue.policy;
  }

  set overflowPolicy(policy: OverflowPolicy) {
    this.queue.policy = policy;
  }

  toRecord(): SessionRecord {
    const record: SessionRecord = {
      clientId: this.clientId,
      protocolVersion: this.protocolVersion,
      expiryInterval: this.expiryInterval,
    };
    if (this.disconnectedAt !== undefined) record.disconnectedAt = this.disconnectedAt;
    if (this.username !== undefined) record.username = this.username;
    if (this.will) record.will = this.will;
    return record;
  }

  /** Writes the session record (not its subscriptions or deliveries). */
  saveRecord(): void {
    this.persist({ type: 'putSession', session: this.toRecord() });
  }

  persist(op: StoreOp): void {
    this.journal.persist(op);
  }

  // --- incoming QoS 2 ------------------------------------------------------------------------

  /** Whether a QoS 2 PUBLISH with this id was received and not yet released. */
  hasIncomingQos2(packetId: number): boolean {
    return this.incomingQos2.has(packetId);
  }

  get incomingQos2Count(): number {
    return this.incomingQos2.size;
  }

  /**
   * A QoS 2 PUBLISH was routed: its id is remembered (and stored) until PUBREL [3.1.1 MQTT-4.3.3-2].
   * With a routing id (cluster mode) it is stored before the message is routed (IncomingQos2Ids).
   */
  rememberIncomingQos2(packetId: number, routingId?: string): void {
    this.incomingQos2.remember(packetId, routingId);
  }

  /** Cluster mode: the routing id a resend of this packet id must be routed again under, once (IncomingQos2Ids). */
  takeIncomingReroute(packetId: number): string | undefined {
    return this.incomingQos2.takeReroute(packetId);
  }

  /** Cluster mode: the commit before routing failed; a resend routes the message again. */
  markIncomingForReroute(packetId: number): void {
    this.incomingQos2.markForReroute(packetId);
  }

  /** PUBREL: the id may be used for a new message again. Returns whether it was known. */
  releaseIncomingQos2(packetId: number): boolean {
    return this.incomingQos2.release(packetId);
  }

  // --- recovery after a restart --------------------------------------------------------------

  /**
   * Marks a session recovered from the store: its deliveries stay on disk until `loadOutgoing`,
   * and new ones are numbered after `nextSeq` so they never overwrite a stored one.
   */
  markRecovered(storedCount: number, nextSeq: number, firstSeq?: number): void {
    this.nextSeq = Math.max(this.nextSeq, nextSeq);
    this.journal.markRecovered(storedCount, firstSeq, nextSeq);
  }

  get isOutgoingLoaded(): boolean {
    return this.journal.isLoaded;
  }

  /** Reads the stored deliveries back into memory (once), before the client goes online. */
  loadOutgoing(read: (span: OutgoingSpan | undefined) => Promise<OutgoingRecord[]>): Promise<void> {
    return this.journal.load(read, (records) => {
      for (const record of records) this.nextSeq = Math.max(this.nextSeq, record.seq + 1);
      this.nextSeq = Math.max(this.nextSeq, this.sender.restore(this.withoutSecondCopies(records)));
    });
  }

  /**
   * Two stored copies of one QoS 2 publication (cluster: routed again while the session was not
   * in memory): the first is kept, the second leaves the store.
   */
  private withoutSecondCopies(records: OutgoingRecord[]): OutgoingRecord[] {
    if (!records.some((record) => record.qos === 2 && record.message.routingId !== undefined)) return records;
    const copies = (this.routedCopies ??= new RoutedCopies());
    return records.filter((record) => {
      const routingId = record.qos === 2 ? record.message.routingId : undefined;
      if (routingId === undefined) return true;
      if (copies.has(routingId)) {
        this.journal.forget(record);
        return false;
      }
      copies.add(routingId);
      return true;
    });
  }

  /** Adds the incoming QoS 2 ids read from the store (before the client goes online), with their routing ids in cluster mode. */
  restoreIncomingQos2(packetIds: readonly number[], routingIds?: ReadonlyMap<number, string>): void {
    this.incomingQos2.restore(packetIds, routingIds);
  }

  // --- subscriptions -------------------------------------------------------------------------

  setSubscription(subscription: SubscriptionRecord): boolean {
    const isNew = !this.subscriptions.has(subscription.filter);
    this.subscriptions.set(subscription.filter, subscription);
    this.persist({ type: 'putSubscription', clientId: this.clientId, subscription });
    return isNew;
  }

  deleteSubscription(filter: string): boolean {
    const existed = this.subscriptions.delete(filter);
    if (existed) this.persist({ type: 'deleteSubscription', clientId: this.clientId, filter });
    return existed;
  }

  // --- connection ----------------------------------------------------------------------------

  /**
   * Hands the session to a connection: unacknowledged deliveries are sent again (PUBLISH with DUP,
   * or PUBREL for those already PUBRECed) in their original order [3.1.1 MQTT-4.4.0-1], then the queue.
   */
  attach(link: SessionLink, clientReceiveMaximum: number): void {
    this.link = link;
    this.linkEpoch++;
    this.disconnectedAt = undefined;
    this.inflight.resize(clientReceiveMaximum);
    for (const record of this.inflight.values()) {
      if (record.state === 'pubrec') link.sendPubrel(record.packetId!);
      else link.sendPublish(record, true);
    }
    this.pump();
  }

  detach(now: number): void {
    // Written once here rather than at each sending: a restart then resends these with DUP
    // [3.1.1 MQTT-3.3.1-1]. (After a crash they are resent with their ids, but without DUP.)
    this.journal.writeDeferredSentStates(this.inflight.values());
    this.link = undefined;
    this.linkEpoch++;
    // A durable queue's deliveries go back to it (offline, this client is not picked again).
    this.returnBorrowed();
    this.disconnectedAt = now;
    // QoS 0 is not kept for an offline client.
    for (const record of this.queue.removeWhere((r) => r.qos === 0)) this.drop('offline-qos0', record.message);
  }

  /** Ends the session's life: nothing more is owed, and the store forgets it. */
  discard(): void {
    const wasPersistent = this.isPersistent;
    this.link = undefined;
    this.linkEpoch++;
    this.returnBorrowed();
    this.inflight.clear();
    this.queue.drainAll();
    this.journal.reset();
    this.subscriptions.clear();
    this.incomingQos2.clear();
    this.will = undefined;
    if (wasPersistent) this.commitLog.add({ type: 'deleteSession', clientId: this.clientId });
  }

  // --- deliveries ----------------------------------------------------------------------------

  /**
   * Takes one delivery of a message for this session: sent now when the client is online and its
   * window allows, queued otherwise. QoS 0 is never kept for an offline client.
   */
  deliver(message: Message, qos: QoS, retain: boolean, subscriptionIds: number[] | undefined, shareGroup?: string): DeliveryOutcome {
    const routingId = qos === 2 ? message.routingId : undefined;
    if (routingId === undefined) return this.deliverCopy(message, qos, retain, subscriptionIds, shareGroup);
    // Cluster mode: a QoS 2 publication this session took already is not delivered twice.
    const copies = (this.routedCopies ??= new RoutedCopies());
    if (copies.has(routingId)) return DeliveryOutcome.Accepted;
    const outcome = this.deliverCopy(message, qos, retain, subscriptionIds, shareGroup);
    if (outcome === DeliveryOutcome.Accepted) copies.add(routingId);
    return outcome;
  }

  private deliverCopy(message: Message, qos: QoS, retain: boolean, subscriptionIds: number[] | undefined, shareGroup?: string): DeliveryOutcome {
    // An in-process consumer that keeps QoS 0 (a connector) stores and acknowledges it like QoS 1.
    if (qos === 0 && this.storesQos0) qos = 1;
    if (qos === 0) {
      const link = this.link;
      if (!link) {
        this.drop('offline-qos0', message);
        return DeliveryOutcome.NotKept;
      }
      const record: OutgoingRecord = { seq: 0, message, qos, retain, state: 'queued' };
      if (subscriptionIds) record.subscriptionIds = subscriptionIds;
      if (link.isWritable && this.queue.size === 0) {
        link.sendPublish(record, false);
        return DeliveryOutcome.Accepted;
      }
      return this.queue.offer(record, this.onEvict) ? DeliveryOutcome.Accepted : this.refusedOutcome();
    }
    const record: OutgoingRecord = { seq: this.nextSeq++, message, qos, retain, state: 'queued' };
    if (subscriptionIds) record.subscriptionIds = subscriptionIds;
    if (shareGroup !== undefined) record.shareGroup = shareGroup;
    if (!this.journal.isLoaded) {
      // Not in memory yet: the store is the queue; loadOutgoing reads it back in order.
      if (this.journal.holdUnloaded(record, this.limits.maxQueuedMessages)) return DeliveryOutcome.Accepted;
      this.drop('queue-full', message);
      return this.refusedOutcome();
    }
    const link = this.link;
    if (link && this.queue.size === 0 && !this.inflight.isFull && link.isWritable) {
      // The live path: straight into flight, no queue round trip.
      if (message.expiresAt !== undefined && message.expiresAt <= this.events.now()) {
        this.drop('expired', message);
        return DeliveryOutcome.NotKept;
      }
      this.sender.sendNow(link, record);
      return DeliveryOutcome.Accepted;
    }
    if (!this.queue.offer(record, this.onEvict)) return this.refusedOutcome();
    if (link && !this.inflight.isFull && link.isWritable) this.pump();
    if (record.state === 'queued' && this.isPersistent) {
      // It waits (offline, or the window is full): it is owed, so it goes to the store now, with
      // the packet id it will be sent with, so sending it later needs no second write and a
      // restart resends it under the same id [3.1.1 MQTT-4.4.0-1].
      record.packetId = this.inflight.nextPacketId();
      this.journal.write(record);
    }
    return DeliveryOutcome.Accepted;
  }

  private refusedOutcome(): DeliveryOutcome {
    return this.isRefusalSilent ? DeliveryOutcome.NotKept : DeliveryOutcome.RefusedByQuota;
  }

  /**
   * A QoS 1 delivery on behalf of `owner`, which keeps the stored copy: sent now or queued in
   * memory (never written), its end reported to the owner, which knows it by its `message`. Only
   * for an online client; returns false (nothing taken) when the client is offline or its queue
   * has no room.
   */
  deliverBorrowed(message: Message, owner: DeliveryOwner): boolean {
    const link = this.link;
    if (!link) return false;
    const record: OutgoingRecord = { seq: this.nextSeq++, message, qos: 1, retain: false, state: 'queued' };
    this.journal.exclude(record);
    this.borrowed.lend(record, owner);
    if (this.queue.size === 0 && !this.inflight.isFull && link.isWritable) {
      this.sender.sendNow(link, record);
      return true;
    }
    let isRefused = false;
    this.queue.offer(record, (evicted, kind) => {
      if (evicted === record && kind === 'newest-refused') isRefused = true;
      else this.onEvict(evicted, kind);
    });
    if (isRefused) {
      this.borrowed.release(record);
      return false;
    }
    if (!this.inflight.isFull && link.isWritable) this.pump();
    return true;
  }

  /**
   * Writes a delivery's current fields again, superseding its last put (a durable queue's own
   * session: the delivery count it keeps on the record).
   */
  rewrite(record: OutgoingRecord): void {
    this.journal.write(record);
  }

  /** Gives every delivery made for `owner` (all owners when absent) back to it, unfinished. */
  returnBorrowed(owner?: DeliveryOwner): void {
    this.borrowed.returnAll(owner, this.inflight, this.queue);
  }

  // --- how deliveries in flight end (DeliveryCompletion) ---------------------------------------

  inflightQosOf(packetId: number): QoS | undefined {
    return this.completion.inflightQosOf(packetId);
  }

  acknowledge(packetId: number): boolean {
    return this.completion.acknowledge(packetId);
  }

  received(packetId: number, isFailure: boolean): boolean {
    return this.completion.received(packetId, isFailure);
  }

  completed(packetId: number): boolean {
    return this.completion.completed(packetId);
  }

  takeSharedDeliveries(canMoveGroup: (groupKey: string) => boolean): OutgoingRecord[] {
    return this.completion.takeSharedDeliveries(canMoveGroup);
  }

  abandon(packetId: number): void {
    this.completion.abandon(packetId);
  }

  /** Called when the socket has drained: resumes sending what back-pressure held back. */
  resume(): void {
    this.pump();
  }

  private drop(reason: DropReason, message: Message): void {
    this.dropped[reason]++;
    this.events.onDrop(this, reason, message);
  }

  private readonly onEvict = (record: OutgoingRecord, kind: EvictionKind): void => {
    // Not this session's to drop: its owner delivers it elsewhere.
    if (this.borrowed.settle(record, 'returned')) return;
    // A refused newest delivery was never stored; an evicted queued one may have been.
    if (kind !== 'newest-refused') this.journal.forget(record);
    this.drop('queue-full', record.message);
  };

  private pump(): void {
    this.sender.pump();
  }
}
