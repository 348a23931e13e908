/**
 * A durable queue in cluster mode, built on the engine (no store of its own): every node captures
 * the messages published to it that match the queue's topics and appends them to the queue's
 * stream — the publisher's PUBACK waits for that append, as it waits for the store — and every
 * node with a connected consumer pulls from the queue's one shared durable consumer, so each
 * message goes to one node and, there, to one consumer. A consumer's PUBACK acks the message in
 * the engine. One a consumer leaves unacknowledged is appended again with its delivery count in
 * a header, then acked (any node takes it again; a crash in between duplicates, never loses);
 * so is one a node took when no consumer was left there, without counting. One its node never
 * settles (SIGKILL) comes back when the engine's ack wait lapses — a live node renews that wait
 * for what it holds — and that counts as a delivery. After `maxDeliveries` the message goes to
 * the dead-letter topic instead, and is kept for replay in a stream of the queue's dead letters:
 * a replay on any node takes them from there (one shared consumer: each replayed once,
 * cluster-wide) and appends them to the queue again.
 */
import type { BrokerService } from '../broker/index.js';
import type { QueueConfig } from '../config/index.js';
import type { DeliveryOwner } from '../session/index.js';
import { decodeMessage, type Message, type OutgoingRecord, type SubscriptionRecord } from '../store/index.js';
import { ConsumerRing, type Consumer } from './consumer-ring.js';
import { publishDeadLetter } from './dead-lettering.js';
import { ReplayBusyError, type DeadLetterStatus } from './dead-letters.js';
import { QueueAppender, type RefusalVerdict } from './queue-appender.js';
import type { ClusterQueueHost, QueueEngine, QueueEngineMessage, QueueEngineQueue } from './queue-engine.js';
import { publishQueueSys, QueueCounters, startSysTimer, type QueueStatus } from './queue-status.js';

export type { ClusterQueueHost, QueueEngine } from './queue-engine.js';

interface Held {
  message: Message;
  engine: QueueEngineMessage;
  /** Deliveries to consumers before this one: appended again after a return, or lost with a node (ack wait). */
  deliveries: number;
}

/**
 * How long one pull request waits for messages. A message that reaches a node after its last
 * consumer left (while its pull still waits) is given back at once, and the engine counts that
 * as a delivery: the shorter the wait, the rarer that is.
 */
const PULL_EXPIRES_MS = 1000;
/** At most this many messages per pull request. */
const PULL_MAX = 256;
/** A replay's pull of the dead letters (the engine's least): one that brings none ends the replay. */
const REPLAY_PULL_MS = 1000;

export class ClusterQueue implements BrokerService, DeliveryOwner {
  readonly name: string;
  readonly sessionId: string;
  readonly filter: string;
  private queue: QueueEngineQueue | undefined;
  private isStopped = false;
  private readonly consumers: ConsumerRing;
  /** Pulled, not with a consumer yet (none had room at that moment). */
  private backlog: Held[] = [];
  /** With a consumer: by the message object its borrowed delivery carries. */
  private readonly assigned = new Map<Message, { held: Held; consumer: Consumer }>();
  private readonly deadLettering = new Set<Held>();
  /** Being appended again (then acked): still this node's until that append is stored. */
  private readonly puttingBack = new Map<Held, Promise<void>>();
  private readonly appender: QueueAppender;
  private readonly counters = new QueueCounters();
  private wake: (() => void) | undefined;
  private pulling: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private depthSeen = { messages: 0, oldestAt: undefined as number | undefined };
  /** The queue's dead letters, held for replay (bounded as the queue; the oldest give way). */
  private deadLetters: QueueEngineQueue | undefined;
  private deadLettersHeld = 0;
  private isReplaying = false;
  private replayedTotal = 0;

  constructor(
    private readonly host: ClusterQueueHost,
    private readonly engine: QueueEngine,
    readonly config: QueueConfig,
    consumerWindow: number,
    private readonly sysIntervalSeconds = 0,
  ) {
    this.name = config.name;
    this.sessionId = `$queue/${config.name}`;
    this.filter = `$queue/${config.name}`;
    this.consumers = new ConsumerRing(config.dispatch, consumerWindow, (clientId) => host.session(clientId));
    this.appender = new QueueAppender(host.nodeId, config.topics, this.sessionId, () => {
      if (this.counters.countDrop('queue-full')) {
        host.logger.warn({ queue: this.name, overflow: config.overflow, maxMessages: config.maxMessages }, 'queue full; dropping by its overflow rule');
      }
    });
  }

  get status(): QueueStatus {
    const connected = this.consumers.connectedCount;
    const oldestAt = this.depthSeen.oldestAt;
    return {
      kind: 'queue',
      name: this.name,
      topics: this.config.topics,
      isConnected: connected > 0,
      queued: this.depthSeen.messages,
      depth: this.depthSeen.messages,
      inflight: this.assigned.size,
      forwarded: this.counters.delivered,
      received: 0,
      consumers: this.consumers.size,
      consumersConnected: connected,
      ...this.counters.snapshot(),
      oldestAgeSeconds: oldestAt === undefined ? 0 : Math.max(0, (this.host.now() - oldestAt) / 1000),
    };
  }

  async start(): Promise<void> {
    const c = this.config;
    this.queue = await this.engine.open({ name: c.name, maxMessages: c.maxMessages, maxBytes: c.maxBytes, discardOld: c.overflow === 'drop-oldest', ackWaitMs: c.ackWaitSeconds * 1000 });
    this.deadLetters = await this.engine.open({ name: c.name, maxMessages: c.maxMessages, maxBytes: c.maxBytes, discardOld: true, ackWaitMs: c.ackWaitSeconds * 1000, isDeadLetters: true });
    this.appender.open(this.queue, this.host);
    // What this node holds stays with it while it lives: the engine's ack wait is renewed well before it lapses.
    const renew = setInterval(() => this.renewHeld(), Math.max(250, (c.ackWaitSeconds * 1000) / 3));
    const depth = setInterval(() => void this.refreshDepth(), 2000);
    renew.unref();
    depth.unref();
    this.timers.push(renew, depth);
    const sys = startSysTimer(this.sysIntervalSeconds, () => publishQueueSys(this.host, this.status));
    if (sys) this.timers.push(sys);
    await this.refreshDepth();
    this.host.logger.info({ queue: this.name, topics: c.topics, queued: this.depthSeen.messages, node: this.host.nodeId }, 'queue started (cluster)');
    this.pulling = this.pullLoop();
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.wake?.();
    // What consumers here hold goes back to the engine at once, for the other nodes.
    for (const consumer of this.consumers.values()) this.host.session(consumer.clientId)?.returnBorrowed(this);
    this.giveBackBacklog();
    await this.pulling?.catch(() => undefined);
    await Promise.all(this.puttingBack.values());
  }

  /** The queue's dead letters as `GET /api/v1/dlq` lists them (`held` is the stream's, refreshed with the depth). */
  get deadLetterStatus(): DeadLetterStatus {
    return {
      kind: 'dead-letters',
      name: this.name,
      topic: this.config.deadLetterTopic,
      isConnected: this.deadLetters !== undefined,
      queued: this.deadLettersHeld,
      inflight: 0,
      forwarded: this.replayedTotal,
      received: 0,
      held: this.deadLettersHeld,
      replayed: this.replayedTotal,
    };
  }

  private async refreshDepth(): Promise<void> {
    try {
      if (this.queue) this.depthSeen = await this.queue.depth();
      if (this.deadLetters) this.deadLettersHeld = (await this.deadLetters.depth()).messages;
    } catch {
      /* engine busy: the last figure stands */
    }
  }

  private renewHeld(): void {
    for (const held of this.backlog) held.engine.working();
    for (const { held } of this.assigned.values()) held.engine.working();
    for (const held of this.deadLettering) held.engine.working();
    for (const held of this.puttingBack.keys()) held.engine.working();
  }

  /**
   * A message published on this node: appended to the stream if it matches; returns 1 if so. A
   * `reject` queue reports its stream's refusal at the bound to `verdict` (the publish's answer).
   */
  capture(message: Message, publisherId: string | undefined, verdict: RefusalVerdict | undefined): number {
    if (this.isStopped) return 0;
    return this.appender.capture(message, publisherId, this.host, this.config.overflow === 'reject' ? verdict : undefined);
  }

  /** Whether this queue's stream refuses the newest message at its bound, and the publisher hears it. */
  get isRejecting(): boolean {
    return this.config.overflow === 'reject';
  }

  // --- consumers on this node -----------------------------------------------------------------

  addConsumer(clientId: string, subscription: SubscriptionRecord): boolean {
    if (!this.consumers.add(clientId, subscription).isNew) return false;
    void this.host.committed().then(
      () => this.nudge(),
      () => this.nudge(),
    );
    return true;
  }

  removeConsumer(clientId: string): boolean {
    if (!this.consumers.has(clientId)) return false;
    this.host.session(clientId)?.returnBorrowed(this);
    this.consumers.delete(clientId);
    this.nudge();
    return true;
  }

  hasConsumer(clientId: string): boolean {
    return this.consumers.has(clientId);
  }

  consumerOnline(): void {
    this.nudge();
  }

  // --- pulling and handing out ----------------------------------------------------------------

  private nudge(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
    // Not from inside a session's own call (a detach, an ack): that stack returns first.
    setImmediate(() => this.dispatch());
  }

  /** Pulls while consumers here have room; sleeps until told otherwise when they have none. */
  private async pullLoop(): Promise<void> {
    while (!this.isStopped) {
      const room = this.consumers.room - this.backlog.length;
      if (room <= 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      try {
        await this.queue!.pull(Math.min(room, PULL_MAX), PULL_EXPIRES_MS, (m) => this.take(m));
      } catch (error) {
        if (this.isStopped) return;
        this.host.logger.debug({ queue: this.name, err: (error as Error).message }, 'queue pull failed; trying again');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private take(engineMessage: QueueEngineMessage): void {
    if (this.isStopped) return engineMessage.nak();
    let message: Message;
    try {
      message = decodeMessage(this.sessionId, Buffer.from(engineMessage.data.buffer, engineMessage.data.byteOffset, engineMessage.data.byteLength));
    } catch (error) {
      this.host.logger.error({ queue: this.name, err: (error as Error).message }, 'unreadable queue message dropped');
      return engineMessage.ack();
    }
    // A redelivery by the engine is one whose node never settled it (it died holding it).
    const held: Held = { message, engine: engineMessage, deliveries: engineMessage.earlierDeliveries + engineMessage.deliveryCount - 1 };
    if (message.expiresAt !== undefined && message.expiresAt <= this.host.now()) {
      this.counters.countDrop('expired');
      return engineMessage.ack();
    }
    if (held.deliveries >= this.config.maxDeliveries) return void this.deadLetter(held, held.deliveries);
    if (this.consumers.connectedCount === 0) return this.putBack(held, held.deliveries);
    this.backlog.push(held);
    this.dispatch();
  }

  /** No consumer is connected here any more: what this node took goes back, for the others, uncounted. */
  private giveBackBacklog(): void {
    const backlog = this.backlog;
    this.backlog = [];
    for (const held of backlog) this.putBack(held, held.deliveries);
  }

  /**
   * Appends the message again with its delivery count, then acks this copy (a nak would do, but
   * the engine would count it as a delivery even when no consumer ever had it). At the stream's
   * bound (drop-newest, reject) it is nak'ed instead. A crash in between duplicates, never loses.
   */
  private putBack(held: Held, deliveries: number): void {
    const queue = this.queue!;
    const done = (async () => {
      try {
        const [outcome] = await queue.publish([{ data: held.engine.data, id: this.appender.nextId(), earlierDeliveries: deliveries }]);
        if (outcome === 'stored') held.engine.ack();
        else held.engine.nak();
      } catch {
        // Engine closing: this copy comes back when its ack wait lapses.
      } finally {
        this.puttingBack.delete(held);
      }
    })();
    this.puttingBack.set(held, done);
  }

  private dispatch(): void {
    while (this.backlog.length > 0 && !this.isStopped) {
      const consumer = this.consumers.pick(true);
      if (!consumer) break;
      const held = this.backlog[0]!;
      if (!this.give(held, consumer)) break;
      this.backlog.shift();
    }
    if (this.backlog.length > 0 && this.consumers.connectedCount === 0) this.giveBackBacklog();
    if (this.backlog.length === 0 && this.consumers.room > 0) this.wake?.();
  }

  private give(held: Held, consumer: Consumer): boolean {
    const session = this.host.session(consumer.clientId);
    if (!session?.isOnline) return false;
    const message = held.message;
    if (held.deliveries > 0) this.counters.redelivered++;
    if (consumer.subscription.qos === 0 || message.qos === 0) {
      // At most once, the consumer's or the publisher's choice: handed over is delivered.
      session.deliver(message, 0, false, undefined);
      this.counters.delivered++;
      held.engine.ack();
      return true;
    }
    this.assigned.set(message, { held, consumer });
    consumer.inflight++;
    if (session.deliverBorrowed(message, this)) return true;
    this.assigned.delete(message);
    consumer.inflight--;
    if (held.deliveries > 0) this.counters.redelivered--;
    return false;
  }

  // --- DeliveryOwner --------------------------------------------------------------------------

  settled(record: OutgoingRecord, outcome: 'acknowledged' | 'dropped'): void {
    const entry = this.assigned.get(record.message);
    if (!entry) return;
    this.assigned.delete(record.message);
    entry.consumer.inflight--;
    if (outcome === 'acknowledged') this.counters.delivered++;
    else this.counters.countDrop('expired');
    entry.held.engine.ack();
    this.nudge();
  }

  returned(record: OutgoingRecord): void {
    const entry = this.assigned.get(record.message);
    if (!entry) return;
    this.assigned.delete(record.message);
    entry.consumer.inflight--;
    const { held } = entry;
    const deliveries = held.deliveries + 1;
    if (!this.isStopped && deliveries >= this.config.maxDeliveries) void this.deadLetter(held, deliveries);
    else this.putBack(held, deliveries);
    this.nudge();
  }

  /**
   * Kept for replay in the dead letters' stream, then to the dead-letter topic; acked in the
   * engine only once both are stored (a crash in between duplicates, never loses).
   */
  private async deadLetter(held: Held, deliveries: number): Promise<void> {
    this.deadLettering.add(held);
    try {
      await this.deadLetters!.publish([{ data: held.engine.data, id: this.appender.nextId() }]);
    } catch {
      // Engine closing: this copy comes back when its ack wait lapses.
      this.deadLettering.delete(held);
      return;
    }
    const target = { queue: this.name, deadLetterTopic: this.config.deadLetterTopic, publisherId: this.sessionId };
    const isPublished = await publishDeadLetter(this.host, target, held.message, deliveries, () => this.isStopped);
    this.deadLettering.delete(held);
    // Stopped first: this copy comes back to some node when its ack wait lapses.
    if (!isPublished) return;
    this.counters.deadLettered++;
    held.engine.ack();
  }

  // --- replay (POST /api/v1/dlq/<name>/replay, on any node) ------------------------------------

  /**
   * Appends every dead letter the stream holds to the queue again, as new (no delivery counted),
   * acking each in the dead letters' stream once the queue's holds it; resolves with how many.
   * Replays on several nodes at once share the dead letters (one consumer): each goes back once.
   * A queue at its bound (reject, drop-newest) leaves the rest held.
   */
  async replayDeadLetters(): Promise<number> {
    const deadLetters = this.deadLetters;
    const queue = this.queue;
    if (!deadLetters || !queue) return 0;
    if (this.isReplaying) throw new ReplayBusyError(`a replay of ${this.name} is under way`);
    this.isReplaying = true;
    let replayed = 0;
    try {
      for (;;) {
        const taken: QueueEngineMessage[] = [];
        await deadLetters.pull(PULL_MAX, REPLAY_PULL_MS, (m) => taken.push(m));
        if (taken.length === 0) break;
        const outcomes = await queue.publish(taken.map((m) => ({ data: m.data, id: this.appender.nextId() })));
        outcomes.forEach((outcome, i) => (outcome === 'stored' ? taken[i]!.ack() : taken[i]!.nak()));
        const stored = outcomes.filter((o) => o === 'stored').length;
        replayed += stored;
        if (stored < outcomes.length) break;
      }
    } finally {
      this.isReplaying = false;
      this.replayedTotal += replayed;
    }
    this.host.logger.info({ queue: this.name, replayed, node: this.host.nodeId }, 'dead letters replayed into the queue (cluster)');
    void this.refreshDepth();
    return replayed;
  }
}
