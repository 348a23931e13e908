/**
 * A durable point-to-point queue: an internal persistent session `$queue/<name>` subscribed to
 * the queue's topics keeps every matching message (in the store, committed in the same batch as
 * the publisher's PUBACK) until one consumer — a client subscribed to `$queue/<name>` —
 * acknowledges it. Each message goes to exactly one connected consumer at a time; one that a
 * consumer leaves unacknowledged goes to another, and after `maxDeliveries` such deliveries to the
 * dead-letter topic. The queue hands messages to consumers' sessions as borrowed deliveries
 * (Session.deliverBorrowed): they are never stored twice, and the queue's own record is deleted
 * only once a consumer PUBACKed it.
 */
import type { BrokerService } from '../broker/index.js';
import type { QueueConfig } from '../config/index.js';
import type { DeliveryOwner, DropReason, Session, SessionLink } from '../session/index.js';
import type { Message, OutgoingRecord, SubscriptionRecord } from '../store/index.js';
import { ConsumerRing, type Consumer } from './consumer-ring.js';
import { publishDeadLetter } from './dead-lettering.js';
import type { QueueHost } from './host.js';
import { publishQueueSys, QueueCounters, startSysTimer, type QueueStatus } from './queue-status.js';

export type { QueueStatus } from './queue-status.js';

/** One message the queue's session handed to the queue: waiting for a consumer, or with one. */
interface Item {
  /** The queue session's own record: its `deliveries` is written with it on every delivery. */
  record: OutgoingRecord;
  /** Deliveries to consumers so far (read back from the record after a restart). */
  deliveries: number;
  firstSeenAt: number;
}

/** The internal session's own window: what consumers hold plus what waits to be handed out. */
const QUEUE_SESSION_WINDOW = 10_000;

export class DurableQueue implements BrokerService, SessionLink, DeliveryOwner {
  readonly name: string;
  readonly sessionId: string;
  readonly filter: string;
  private session: Session | undefined;
  private isStopped = false;
  private isStarted = false;
  private readonly consumers: ConsumerRing;
  /** Taken from the session, not with a consumer (none free, or one gave it back), in seq order. */
  private backlog: Item[] = [];
  /** With a consumer: by the message object its borrowed delivery carries. */
  private readonly assigned = new Map<Message, { item: Item; consumer: Consumer }>();
  /** Being published to the dead-letter topic. */
  private readonly deadLettering = new Set<Item>();
  private isDispatchScheduled = false;
  private sysTimer: NodeJS.Timeout | undefined;
  private readonly counters = new QueueCounters();

  constructor(
    private readonly host: QueueHost,
    readonly config: QueueConfig,
    /** Deliveries one consumer holds unacknowledged at most (the broker's maxInflight). */
    consumerWindow: number,
    /** `$SYS/broker/queue/<name>/…` every so many seconds (0: never). */
    private readonly sysIntervalSeconds = 0,
  ) {
    this.name = config.name;
    this.sessionId = `$queue/${config.name}`;
    this.filter = `$queue/${config.name}`;
    this.consumers = new ConsumerRing(config.dispatch, consumerWindow, (clientId) => host.session(clientId));
  }

  get status(): QueueStatus {
    const session = this.session;
    let oldest = session?.oldestQueuedAt;
    for (const item of this.heldItems()) if (oldest === undefined || item.firstSeenAt < oldest) oldest = item.firstSeenAt;
    const connected = this.consumers.connectedCount;
    const depth = (session?.queuedCount ?? 0) + (session?.inflightCount ?? 0);
    return {
      kind: 'queue',
      name: this.name,
      topics: this.config.topics,
      isConnected: connected > 0,
      queued: depth,
      depth,
      inflight: this.assigned.size,
      forwarded: this.counters.delivered,
      received: 0,
      consumers: this.consumers.size,
      consumersConnected: connected,
      ...this.counters.snapshot(),
      oldestAgeSeconds: oldest === undefined ? 0 : Math.max(0, (this.host.now() - oldest) / 1000),
    };
  }

  private *heldItems(): Iterable<Item> {
    yield* this.backlog;
    for (const { item } of this.assigned.values()) yield item;
    yield* this.deadLettering;
  }

  async start(): Promise<void> {
    const c = this.config;
    // QoS 1 (a consumer's PUBACK ends the message); retained messages are not replayed into the
    // queue on subscribe (Retain Handling 2); No Local so its own dead letters never loop back.
    const subscriptions: SubscriptionRecord[] = c.topics.map((filter) => ({ filter, qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 2 }));
    const session = await this.host.openSession(this.sessionId, subscriptions, c.overflow === 'drop-oldest' ? 'drop-oldest' : 'refuse-newest');
    session.configureInternal({
      limits: { maxInflight: QUEUE_SESSION_WINDOW, maxQueuedMessages: c.maxMessages, maxQueuedBytes: c.maxBytes },
      storesQos0: c.storeQos0,
      isRefusalSilent: c.overflow === 'drop-newest',
      isExemptFromReadRules: true,
      onDrop: (reason) => this.countDrop(reason),
    });
    this.session = session;
    this.isStarted = true;
    this.host.logger.info({ queue: this.name, topics: c.topics, queued: session.queuedCount, consumers: this.consumers.size }, 'queue started');
    session.attach(this, QUEUE_SESSION_WINDOW);
    this.sysTimer = startSysTimer(this.sysIntervalSeconds, () => this.publishSys());
  }

  /** `$SYS/broker/queue/<name>/<counter>`, in memory only (as the broker's own $SYS topics). */
  publishSys(): void {
    publishQueueSys(this.host, this.status);
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    if (this.sysTimer) clearInterval(this.sysTimer);
    // What consumers hold unacknowledged goes back to the session's store copy: sent again after a restart.
    for (const consumer of this.consumers.values()) this.host.session(consumer.clientId)?.returnBorrowed(this);
    if (this.session?.isOnline) this.session.detach(this.host.now());
  }

  private countDrop(reason: DropReason): void {
    if (this.counters.countDrop(reason)) {
      this.host.logger.warn({ queue: this.name, overflow: this.config.overflow, maxMessages: this.config.maxMessages }, 'queue full; dropping by its overflow rule');
    }
  }

  // --- consumers ------------------------------------------------------------------------------

  /** A session subscribed `$queue/<name>` (also when restored after a restart). */
  addConsumer(clientId: string, subscription: SubscriptionRecord): boolean {
    if (!this.consumers.add(clientId, subscription).isNew) return false;
    // After the commit that holds the subscription, so its SUBACK goes out before the first message.
    void this.host.committed().then(
      () => this.scheduleDispatch(),
      () => this.scheduleDispatch(),
    );
    return true;
  }

  /** Unsubscribed or its session ended: what it holds unacknowledged comes back. */
  removeConsumer(clientId: string): boolean {
    const consumer = this.consumers.get(clientId);
    if (!consumer) return false;
    this.host.session(clientId)?.returnBorrowed(this);
    this.consumers.delete(clientId);
    this.scheduleDispatch();
    return true;
  }

  hasConsumer(clientId: string): boolean {
    return this.consumers.has(clientId);
  }

  /** A consumer's session came online. */
  consumerOnline(): void {
    this.scheduleDispatch();
  }

  // --- SessionLink: the queue's own session hands it messages -------------------------------

  get isWritable(): boolean {
    return !this.isStopped && this.backlog.length === 0 && this.consumers.pick(false) !== undefined;
  }

  sendPublish(record: OutgoingRecord, isDuplicate: boolean): void {
    // Before delivery counts were kept on the record, a record sent before a restart counted once.
    const item: Item = { record, deliveries: record.deliveries ?? (isDuplicate ? 1 : 0), firstSeenAt: this.host.now() };
    const consumer = this.consumers.pick(true);
    if (!consumer || !this.give(item, consumer)) {
      this.backlog.push(item);
      this.scheduleDispatch();
    }
  }

  sendPubrel(): void {
    // The queue's subscriptions are QoS 1: no QoS 2 release step.
  }

  // --- DeliveryOwner: how a consumer's delivery ended -----------------------------------------

  settled(record: OutgoingRecord, outcome: 'acknowledged' | 'dropped'): void {
    const entry = this.assigned.get(record.message);
    if (!entry) return;
    this.assigned.delete(record.message);
    entry.consumer.inflight--;
    if (outcome === 'acknowledged') this.counters.delivered++;
    else this.countDrop('expired');
    this.finish(entry.item);
    this.scheduleDispatch();
  }

  returned(record: OutgoingRecord): void {
    const entry = this.assigned.get(record.message);
    if (!entry) return;
    this.assigned.delete(record.message);
    entry.consumer.inflight--;
    const item = entry.item;
    if (item.deliveries >= this.config.maxDeliveries) {
      void this.deadLetter(item);
    } else {
      this.insertBacklog(item);
    }
    this.scheduleDispatch();
  }

  // --- dispatch -------------------------------------------------------------------------------

  /** Hands the item to the consumer; false when its session would not take it now. */
  private give(item: Item, consumer: Consumer): boolean {
    const session = this.host.session(consumer.clientId);
    if (!session?.isOnline) return false;
    const message = item.record.message;
    item.deliveries++;
    if (item.deliveries > 1) this.counters.redelivered++;
    if (consumer.subscription.qos === 0 || message.qos === 0) {
      // At most once, the consumer's or the publisher's choice (a stored QoS 0 message too: a
      // delivery is never above the published QoS [3.1.1 MQTT-3.8.4-6]): handed over is delivered.
      session.deliver(message, 0, false, undefined);
      this.counters.delivered++;
      // Not from inside the queue session's own send loop.
      queueMicrotask(() => this.finish(item));
      return true;
    }
    this.assigned.set(message, { item, consumer });
    consumer.inflight++;
    if (session.deliverBorrowed(message, this)) {
      this.persistDeliveries(item);
      return true;
    }
    this.assigned.delete(message);
    consumer.inflight--;
    item.deliveries--;
    if (item.deliveries > 0) this.counters.redelivered--;
    return false;
  }

  /**
   * The delivery count goes to the store with the message's record (in the batch that is open
   * now), so maxDeliveries holds across a restart. A crash before that batch commits loses the
   * count of that one delivery.
   */
  private persistDeliveries(item: Item): void {
    item.record.deliveries = item.deliveries;
    this.session?.rewrite(item.record);
  }

  /** The message has left the queue: its stored record goes. */
  private finish(item: Item): void {
    const packetId = item.record.packetId;
    if (item.record.qos > 0 && packetId !== undefined) this.session?.acknowledge(packetId);
  }

  /** Back in seq order: a message given back goes before newer ones. */
  private insertBacklog(item: Item): void {
    const seq = item.record.seq;
    let i = this.backlog.length;
    while (i > 0 && this.backlog[i - 1]!.record.seq > seq) i--;
    this.backlog.splice(i, 0, item);
  }

  private scheduleDispatch(): void {
    if (this.isDispatchScheduled || !this.isStarted || this.isStopped) return;
    this.isDispatchScheduled = true;
    // Never from inside a session's own call (a detach, an ack): that stack returns first.
    setImmediate(() => {
      this.isDispatchScheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    if (this.isStopped) return;
    while (this.backlog.length > 0) {
      const consumer = this.consumers.pick(true);
      if (!consumer) return;
      const item = this.backlog[0]!;
      if (!this.give(item, consumer)) {
        // Its session has no room now; it asks again when a delivery to it ends.
        return;
      }
      this.backlog.shift();
    }
    this.session?.resume();
  }

  // --- dead letters ---------------------------------------------------------------------------

  /** To the dead-letter topic; deleted from the queue only once that publish is committed. */
  private async deadLetter(item: Item): Promise<void> {
    this.deadLettering.add(item);
    const target = { queue: this.name, deadLetterTopic: this.config.deadLetterTopic, publisherId: this.sessionId };
    // Not published when stopped first: it stays in the store, and the next start delivers it again.
    if (!(await publishDeadLetter(this.host, target, item.record.message, item.deliveries, () => this.isStopped))) return;
    this.deadLettering.delete(item);
    this.counters.deadLettered++;
    this.finish(item);
    this.scheduleDispatch();
  }

  /** Replay: a message put back into the queue (committed when the returned promise resolves). */
  async inject(message: Message): Promise<void> {
    const session = this.session;
    if (!session) throw new Error(`queue ${this.name} is not started`);
    session.deliver(message, this.config.storeQos0 || message.qos > 0 ? 1 : 0, false, undefined);
    await this.host.committed();
  }
}
