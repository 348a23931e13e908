/**
 * One client's session: its subscriptions, the deliveries it is owed (in-flight window and queue),
 * the QoS 2 packet ids it has sent us and not yet released, and its will. It persists its own
 * changes through the group committer and talks to whatever connection holds it through
 * `SessionLink`, so this module never imports the broker.
 */
import type { GroupCommitter, Message, OutgoingRecord, SessionRecord, StoreOp, SubscriptionRecord, WillRecord } from '../store/index.js';
import type { ProtocolVersion, QoS } from '../protocol/index.js';

/** What a session needs from the connection that currently holds it. */
export interface SessionLink {
  /** Whether the socket can take more bytes now without buffering beyond its bound. */
  readonly isWritable: boolean;
  sendPublish(delivery: OutgoingRecord, isDuplicate: boolean): void;
  sendPubrel(packetId: number): void;
}

export interface SessionLimits {
  /** Largest number of unacknowledged QoS 1/2 deliveries to the client (our own bound). */
  maxInflight: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
}

/** Why a delivery was not made; counted by the broker. */
export type DropReason = 'queue-full' | 'offline-qos0' | 'expired' | 'too-large';

export interface SessionEvents {
  onDrop(session: Session, reason: DropReason, message: Message): void;
  /** The broker's clock (injected, so expiry rules are testable without waiting). */
  now(): number;
}

export class Session {
  protocolVersion: ProtocolVersion;
  /** Seconds the session outlives its connection (0 = ends with it, 0xFFFFFFFF = never). */
  expiryInterval: number;
  disconnectedAt: number | undefined;
  will: WillRecord | undefined;
  /** The user name the client authenticated with (ACL checks while it is offline too). */
  username: string | undefined;
  /**
   * At the queue bound, drop the oldest queued delivery instead of refusing the newest (bridges:
   * the freshest readings matter most after a long outage).
   */
  dropsOldestWhenFull = false;
  readonly subscriptions = new Map<string, SubscriptionRecord>();
  /** QoS 2 packet ids received and PUBRECed, awaiting PUBREL [MQTT-4.3.3-2]. */
  readonly incomingQos2 = new Set<number>();

  private link: SessionLink | undefined;
  /** Changes whenever a connection attaches, so late callbacks can tell they are stale. */
  private linkEpoch = 0;
  /** Client's Receive Maximum (MQTT 5), capped by our own maxInflight. */
  private sendWindow: number;
  /** Unacknowledged deliveries by packet id, in the order they were sent. */
  private readonly inflight = new Map<number, OutgoingRecord>();
  /** Deliveries waiting for a window slot or for the client to return, oldest first. */
  private queue: OutgoingRecord[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private lastPacketId = 0;
  private nextSeq = 1;
  /**
   * A session recovered after a restart keeps its deliveries in the store until its client
   * returns ('unloaded'); while they are read ('loading') new deliveries are also kept aside.
   */
  private outgoingState: 'loaded' | 'unloaded' | 'loading' = 'loaded';
  private arrivedWhileLoading: OutgoingRecord[] = [];
  /** The latest put of a delivery while it may still be pending in the commit batch. */
  private readonly unwrittenPuts = new WeakMap<OutgoingRecord, StoreOp>();
  /** Deliveries an earlier put of which may be on disk: ending them needs a delete. */
  private readonly hasStoredCopy = new WeakSet<OutgoingRecord>();
  /** QoS 1 deliveries sent from the queue whose record on disk still says 'queued'. */
  private readonly sentStateUnwritten = new WeakSet<OutgoingRecord>();
  /** How many deliveries a not-yet-loaded session holds in the store. */
  private unloadedCount = 0;

  constructor(
    readonly clientId: string,
    protocolVersion: ProtocolVersion,
    expiryInterval: number,
    private readonly committer: GroupCommitter,
    private limits: SessionLimits,
    private events: SessionEvents,
  ) {
    this.protocolVersion = protocolVersion;
    this.expiryInterval = expiryInterval;
    this.sendWindow = limits.maxInflight;
  }

  /**
   * For an in-process consumer (a connector): its own queue bounds and window, QoS 0 deliveries
   * kept and acknowledged like QoS 1 (most sensors publish QoS 0), and its own drop count.
   */
  configureInternal(options: { limits?: Partial<SessionLimits>; storesQos0?: boolean; onDrop?: (reason: DropReason) => void }): void {
    if (options.limits) this.limits = { ...this.limits, ...options.limits };
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
    return this.queue.length - this.queueHead;
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
    if (this.isPersistent) this.persist({ type: 'putSession', session: this.toRecord() });
  }

  persist(op: StoreOp): void {
    if (this.isPersistent) this.committer.add(op);
  }

  /**
   * Marks a session recovered from the store: its deliveries stay on disk until `loadOutgoing`,
   * and new ones are numbered after `nextSeq` so they never overwrite a stored one.
   */
  markRecovered(storedCount: number, nextSeq: number): void {
    this.outgoingState = 'unloaded';
    this.nextSeq = Math.max(this.nextSeq, nextSeq);
    // Exact while unloaded: nothing is acked or expired before the records are read back.
    this.unloadedCount = storedCount;
  }

  get isOutgoingLoaded(): boolean {
    return this.outgoingState === 'loaded';
  }

  /** Reads the stored deliveries back into memory (once), before the client goes online. */
  async loadOutgoing(read: () => Promise<OutgoingRecord[]>): Promise<void> {
    if (this.outgoingState !== 'unloaded') return;
    this.outgoingState = 'loading';
    let records: OutgoingRecord[];
    try {
      records = await read();
    } catch (error) {
      this.outgoingState = 'unloaded';
      throw error;
    }
    if (this.outgoingState !== 'loading') return; // discarded meanwhile
    this.restoreOutgoing(records);
  }

  /** In-flight ones keep their packet ids; deliveries that arrived during the read follow. */
  private restoreOutgoing(records: readonly OutgoingRecord[]): void {
    const seen = new Set<number>();
    const arrived = this.arrivedWhileLoading;
    this.arrivedWhileLoading = [];
    for (const record of [...records, ...arrived]) {
      if (seen.has(record.seq)) continue;
      seen.add(record.seq);
      this.nextSeq = Math.max(this.nextSeq, record.seq + 1);
      if (record.state !== 'queued' && record.packetId !== undefined) {
        this.inflight.set(record.packetId, record);
      } else {
        // A queued one keeps its stored packet id: it is sent with it [MQTT-4.4.0-1].
        record.state = 'queued';
        this.hasStoredCopy.add(record);
        this.pushQueue(record);
      }
    }
    this.outgoingState = 'loaded';
  }

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

  /**
   * Hands the session to a connection: unacknowledged deliveries are sent again (PUBLISH with DUP,
   * or PUBREL for those already PUBRECed) in their original order [MQTT-4.4.0-1], then the queue.
   */
  attach(link: SessionLink, clientReceiveMaximum: number): void {
    this.link = link;
    this.linkEpoch++;
    this.disconnectedAt = undefined;
    this.sendWindow = Math.max(1, Math.min(clientReceiveMaximum, this.limits.maxInflight));
    for (const record of this.inflight.values()) {
      if (record.state === 'pubrec') link.sendPubrel(record.packetId!);
      else link.sendPublish(record, true);
    }
    this.pump();
  }

  detach(now: number): void {
    // Written once here rather than at each sending: a restart then resends these with DUP
    // [MQTT-3.3.1-1]. (After a crash they are resent with their ids, but without DUP.)
    for (const record of this.inflight.values()) {
      if (this.sentStateUnwritten.has(record)) this.putRecord(record);
    }
    this.link = undefined;
    this.linkEpoch++;
    this.disconnectedAt = now;
    this.dropQueuedQos0();
  }

  /** Ends the session's life: nothing more is owed, and the store forgets it. */
  discard(): void {
    const wasPersistent = this.isPersistent;
    this.link = undefined;
    this.linkEpoch++;
    this.inflight.clear();
    this.outgoingState = 'loaded';
    this.arrivedWhileLoading = [];
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.subscriptions.clear();
    this.incomingQos2.clear();
    this.will = undefined;
    if (wasPersistent) this.committer.add({ type: 'deleteSession', clientId: this.clientId });
  }

  /**
   * Takes one delivery of a message for this session: sent now when the client is online and its
   * window allows, queued otherwise. QoS 0 is never kept for an offline client.
   */
  deliver(message: Message, qos: QoS, retain: boolean, subscriptionIds: number[] | undefined, shareGroup?: string): void {
    if (qos === 0 && this.storesQos0) qos = 1;
    if (qos === 0) {
      const link = this.link;
      if (!link) {
        this.events.onDrop(this, 'offline-qos0', message);
        return;
      }
      const record: OutgoingRecord = { seq: 0, message, qos, retain, state: 'queued' };
      if (subscriptionIds) record.subscriptionIds = subscriptionIds;
      if (link.isWritable && this.queuedCount === 0) link.sendPublish(record, false);
      else this.enqueue(record);
      return;
    }
    const record: OutgoingRecord = { seq: this.nextSeq++, message, qos, retain, state: 'queued' };
    if (subscriptionIds) record.subscriptionIds = subscriptionIds;
    if (shareGroup !== undefined) record.shareGroup = shareGroup;
    if (this.outgoingState !== 'loaded') {
      // Not in memory yet: the store is the queue; loadOutgoing reads it back in order.
      if (this.unloadedCount >= this.limits.maxQueuedMessages) {
        this.events.onDrop(this, 'queue-full', message);
        return;
      }
      this.unloadedCount++;
      this.persist({ type: 'putOutgoing', clientId: this.clientId, record });
      if (this.outgoingState === 'loading') this.arrivedWhileLoading.push(record);
      return;
    }
    if (!this.enqueue(record)) return;
    if (this.link) this.pump();
    if (record.state === 'queued' && this.isPersistent) {
      // Still waiting (offline, or the window is full): it is owed, so it goes to the store now,
      // with the packet id it will be sent with, so sending it later needs no second write and a
      // restart resends it under the same id [MQTT-4.4.0-1].
      record.packetId = this.nextPacketId();
      this.putRecord(record);
    }
  }

  /** Writes the delivery's current state; remembered until it is known to be on disk. */
  private putRecord(record: OutgoingRecord): StoreOp {
    const previous = this.unwrittenPuts.get(record);
    // A put still waiting in the batch is superseded by this one; one already written is not.
    if (previous && !this.committer.retract(previous)) this.hasStoredCopy.add(record);
    const put: StoreOp = { type: 'putOutgoing', clientId: this.clientId, record: { ...record } };
    this.persist(put);
    this.unwrittenPuts.set(record, put);
    this.sentStateUnwritten.delete(record);
    return put;
  }

  /** PUBACK from the client ends a QoS 1 delivery [MQTT-4.3.2-1]. */
  acknowledge(packetId: number): boolean {
    const record = this.inflight.get(packetId);
    if (!record || record.qos !== 1) return false;
    this.completeInflight(record);
    return true;
  }

  /** PUBREC: the client has the QoS 2 message; we release it with PUBREL [MQTT-4.3.3-1]. */
  received(packetId: number, isFailure: boolean): boolean {
    const record = this.inflight.get(packetId);
    if (!record || record.qos !== 2) return false;
    if (isFailure) {
      // MQTT 5: a PUBREC reason code >= 0x80 ends the flow; the client will not PUBCOMP.
      this.completeInflight(record);
      return true;
    }
    if (record.state === 'pubrec') {
      this.link?.sendPubrel(packetId);
      return true;
    }
    record.state = 'pubrec';
    if (!this.isPersistent) {
      this.link?.sendPubrel(packetId);
      return true;
    }
    // The PUBREL goes out only once "PUBREC received" is on disk: a restart must not resend the
    // PUBLISH of a message the client has already been told to release.
    this.putRecord(record);
    const epoch = this.linkEpoch;
    this.committer.afterCommit(() => {
      if (epoch === this.linkEpoch && this.inflight.get(packetId) === record) this.link?.sendPubrel(packetId);
    });
    return true;
  }

  /** PUBCOMP ends a QoS 2 delivery. */
  completed(packetId: number): boolean {
    const record = this.inflight.get(packetId);
    if (!record || record.qos !== 2 || record.state !== 'pubrec') return false;
    this.completeInflight(record);
    return true;
  }

  /**
   * Removes and returns the deliveries received through the shared groups `canMoveGroup` names
   * that another member may take instead: queued ones, and QoS 1 ones sent but not acked
   * (the client may have them: at-least-once allows the second copy). QoS 2 ones sent stay.
   */
  takeSharedDeliveries(canMoveGroup: (groupKey: string) => boolean): OutgoingRecord[] {
    if (this.outgoingState !== 'loaded') return [];
    const isMovable = (r: OutgoingRecord): boolean => r.shareGroup !== undefined && canMoveGroup(r.shareGroup);
    const taken: OutgoingRecord[] = [];
    for (const record of [...this.inflight.values()]) {
      if (record.qos === 1 && record.state === 'sent' && isMovable(record)) {
        this.inflight.delete(record.packetId!);
        taken.push(record);
      }
    }
    const kept: OutgoingRecord[] = [];
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const record = this.queue[i]!;
      if (isMovable(record)) taken.push(record);
      else kept.push(record);
    }
    if (kept.length !== this.queuedCount) {
      this.queue = kept;
      this.queueHead = 0;
      this.queuedBytes = kept.reduce((sum, r) => sum + r.message.payload.length, 0);
    }
    for (const record of taken) {
      if (record.qos > 0) this.persist({ type: 'deleteOutgoing', clientId: this.clientId, seq: record.seq });
    }
    taken.sort((a, b) => a.seq - b.seq);
    return taken;
  }

  /** Ends a delivery that cannot be made to this client (e.g. larger than it accepts). */
  abandon(packetId: number): void {
    const record = this.inflight.get(packetId);
    if (record) {
      this.events.onDrop(this, 'too-large', record.message);
      this.completeInflight(record);
    }
  }

  /** Called when the socket has drained: resumes sending what back-pressure held back. */
  resume(): void {
    this.pump();
  }

  private completeInflight(record: OutgoingRecord): void {
    this.inflight.delete(record.packetId!);
    // Acknowledged before its record was written: neither the put nor a delete need reach the disk.
    const unwritten = this.unwrittenPuts.get(record);
    this.unwrittenPuts.delete(record);
    this.sentStateUnwritten.delete(record);
    const isNowhereOnDisk = unwritten !== undefined && !this.hasStoredCopy.has(record) && this.committer.retract(unwritten);
    if (!isNowhereOnDisk) this.persist({ type: 'deleteOutgoing', clientId: this.clientId, seq: record.seq });
    this.pump();
  }

  private enqueue(record: OutgoingRecord): boolean {
    const size = record.message.payload.length;
    while (this.queuedCount > 0 && (this.queuedCount >= this.limits.maxQueuedMessages || this.queuedBytes + size > this.limits.maxQueuedBytes)) {
      if (this.evictOldestQos0()) continue;
      if (!this.dropsOldestWhenFull) {
        this.events.onDrop(this, 'queue-full', record.message);
        return false;
      }
      const oldest = this.shiftQueue()!;
      this.persist({ type: 'deleteOutgoing', clientId: this.clientId, seq: oldest.seq });
      this.events.onDrop(this, 'queue-full', oldest.message);
    }
    if (this.queuedCount >= this.limits.maxQueuedMessages) {
      // A bound of zero queues nothing.
      this.events.onDrop(this, 'queue-full', record.message);
      return false;
    }
    this.pushQueue(record);
    return true;
  }

  private pushQueue(record: OutgoingRecord): void {
    this.queue.push(record);
    this.queuedBytes += record.message.payload.length;
  }

  private shiftQueue(): OutgoingRecord | undefined {
    if (this.queueHead >= this.queue.length) return undefined;
    const record = this.queue[this.queueHead]!;
    // Clear the slot so the consumed record can be collected before the array is compacted.
    this.queue[this.queueHead] = undefined as unknown as OutgoingRecord;
    this.queueHead++;
    this.queuedBytes -= record.message.payload.length;
    // Compact once the consumed head is both large and most of the array.
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    return record;
  }

  private peekQueue(): OutgoingRecord | undefined {
    return this.queueHead < this.queue.length ? this.queue[this.queueHead] : undefined;
  }

  /** At the bound, the oldest queued QoS 0 message makes room before a newer one is refused. */
  private evictOldestQos0(): boolean {
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const record = this.queue[i]!;
      if (record.qos === 0) {
        this.queue.splice(i, 1);
        this.queuedBytes -= record.message.payload.length;
        this.events.onDrop(this, 'queue-full', record.message);
        return true;
      }
    }
    return false;
  }

  private dropQueuedQos0(): void {
    const kept: OutgoingRecord[] = [];
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const record = this.queue[i]!;
      if (record.qos === 0) this.events.onDrop(this, 'offline-qos0', record.message);
      else kept.push(record);
    }
    this.queue = kept;
    this.queueHead = 0;
    this.queuedBytes = kept.reduce((sum, r) => sum + r.message.payload.length, 0);
  }

  private nextPacketId(): number {
    // Skip ids still in flight: an id is not reused until its flow completes [MQTT-2.3.1-4].
    do {
      this.lastPacketId = this.lastPacketId >= 0xffff ? 1 : this.lastPacketId + 1;
    } while (this.inflight.has(this.lastPacketId));
    return this.lastPacketId;
  }

  /**
   * Moves queued deliveries into flight while the window and the socket allow. For a persistent
   * session a delivery is sent only after its packet id is committed, so a restart resends it
   * under the same id and a QoS 2 receiver recognises the duplicate.
   */
  private pump(): void {
    const link = this.link;
    if (!link) return;
    const now = this.events.now();
    let toSendAfterCommit: OutgoingRecord[] | undefined;
    while (link.isWritable) {
      const next = this.peekQueue();
      if (!next) break;
      if (next.qos > 0 && this.inflight.size >= this.sendWindow) break;
      this.shiftQueue();
      if (next.message.expiresAt !== undefined && next.message.expiresAt <= now) {
        this.events.onDrop(this, 'expired', next.message);
        if (next.qos > 0) this.persist({ type: 'deleteOutgoing', clientId: this.clientId, seq: next.seq });
        continue;
      }
      if (next.qos === 0) {
        link.sendPublish(next, false);
        continue;
      }
      // A queued delivery was stored with its packet id; it keeps it unless that id is in use
      // (the id counter wrapped while an old delivery stayed unacknowledged).
      const hasStoredId = next.packetId !== undefined && !this.inflight.has(next.packetId);
      if (!hasStoredId) next.packetId = this.nextPacketId();
      next.state = 'sent';
      this.inflight.set(next.packetId!, next);
      if (this.isPersistent) {
        if (next.qos === 1) {
          // QoS 1 goes out at once: if the broker dies before its record commits, the publisher
          // was not acknowledged either and resends — a duplicate, which QoS 1 allows. With its
          // stored id the record on disk already says all a restart needs.
          if (hasStoredId) this.sentStateUnwritten.add(next);
          else this.putRecord(next);
          link.sendPublish(next, false);
        } else {
          // QoS 2 must wait: its packet id and 'sent' state have to be on disk before the client
          // can see it.
          this.putRecord(next);
          (toSendAfterCommit ??= []).push(next);
        }
      } else {
        link.sendPublish(next, false);
      }
    }
    if (toSendAfterCommit) {
      const records = toSendAfterCommit;
      const epoch = this.linkEpoch;
      this.committer.afterCommit(() => {
        // A reconnect in between has already resent everything in flight.
        if (epoch !== this.linkEpoch || !this.link) return;
        for (const record of records) {
          if (this.inflight.get(record.packetId!) === record && record.state === 'sent') this.link.sendPublish(record, false);
        }
      });
    }
  }
}
