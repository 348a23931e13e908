/**
 * The node link: deliveries to other nodes. QoS 1/2 go into the destination's inbox (the
 * MIDGE_IN work-queue stream, subject midge.in.<node>) as one message per destination and
 * commit batch, pipelined, acknowledged by the stream's quorum before the publisher's PUBACK;
 * QoS 0 goes over core NATS, at most once. Inbound, one durable pull consumer per node reads
 * its inbox in order and acks a batch only after the local effects of it are committed.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/index.js';
import type { CommitSink } from '../store/index.js';
import { approximateSize, decodeBatch, encodeBatch, type Delivery } from './codec.js';
import { INBOX_STREAM, inboxConsumer, inboxSubject, qos0Subject, type Engine, type JsMsg } from './engine.js';

/** A dead node's inbox consumer's ack wait while it is adopted (its own is 30 s). */
const ADOPTION_ACK_WAIT_MS = 1500;
/** Engine max_payload is 1 MiB; stay well below with headers and encoding overhead. */
const MAX_BATCH_BYTES = 512 * 1024;

export interface InboxHandler {
  /** Delivers a batch locally; `done` is called once its effects are committed (or failed). */
  onBatch(deliveries: Delivery[], seq: number, done: (error: Error | undefined) => void): void;
  /** Inbox messages up to this sequence were applied before (a redelivery after a crash): acked unread. */
  appliedUpTo?: number;
  onQos0(deliveries: Delivery[]): void;
}

export class NodeLink implements CommitSink {
  private pending = new Map<string, Delivery[]>();
  private pendingQos0 = new Map<string, Delivery[]>();
  private isQos0Scheduled = false;
  private readonly boot = randomBytes(6).toString('base64url');
  private sequence = 0;
  /** Messages forwarded, by destination node (metrics). */
  readonly forwardedByNode = new Map<string, number>();
  readonly batchesByNode = new Map<string, number>();
  received = 0;
  private stopConsuming: (() => void) | undefined;
  private inFlightBatches = 0;
  /** Inbox sequences of dead nodes this node adopts whose effects are committed (both drains). */
  private readonly drained = new Map<string, Set<number>>();

  constructor(
    private readonly engine: Engine,
    private readonly nodeId: string,
    private readonly logger: Logger,
    private readonly onPending: () => void,
  ) {}

  send(node: string, delivery: Delivery): void {
    this.forwardedByNode.set(node, (this.forwardedByNode.get(node) ?? 0) + 1);
    if (delivery.message.qos === 0) {
      const list = this.pendingQos0.get(node);
      if (list) list.push(delivery);
      else this.pendingQos0.set(node, [delivery]);
      if (!this.isQos0Scheduled) {
        this.isQos0Scheduled = true;
        setImmediate(() => this.flushQos0());
      }
      return;
    }
    const list = this.pending.get(node);
    if (list) list.push(delivery);
    else this.pending.set(node, [delivery]);
    this.onPending();
  }

  private flushQos0(): void {
    this.isQos0Scheduled = false;
    const pending = this.pendingQos0;
    this.pendingQos0 = new Map();
    if (!this.engine.isConnected) return; // at most once: not buffered across an outage
    for (const [node, deliveries] of pending) {
      for (const chunk of chunks(deliveries)) {
        try {
          this.engine.nc.publish(qos0Subject(node), encodeBatch(chunk));
        } catch {
          return;
        }
      }
    }
  }

  hasPending(): boolean {
    return this.pending.size > 0;
  }

  takeBatch(): (() => Promise<void>) | undefined {
    if (this.pending.size === 0) return undefined;
    const pending = this.pending;
    this.pending = new Map();
    // Ids are fixed now, so a resend after a timeout is recognised by the stream's dedupe window.
    const messages: Array<{ node: string; id: string; data: Uint8Array }> = [];
    for (const [node, all] of pending) {
      // A QoS 2 publication's delivery goes alone, under the id derived from its routing id:
      // routed again (a resend after its publisher's node died), the stream drops the copy.
      const before = messages.length;
      let deliveries = all;
      if (all.some((delivery) => delivery.dedupId !== undefined)) {
        deliveries = all.filter((delivery) => delivery.dedupId === undefined);
        for (const delivery of all) {
          if (delivery.dedupId !== undefined) messages.push({ node, id: delivery.dedupId, data: encodeBatch([delivery]) });
        }
      }
      for (const chunk of chunks(deliveries)) messages.push({ node, id: `${this.nodeId}:${this.boot}:${++this.sequence}`, data: encodeBatch(chunk) });
      this.batchesByNode.set(node, (this.batchesByNode.get(node) ?? 0) + messages.length - before);
    }
    return () => this.publishAll(messages);
  }

  private async publishAll(messages: Array<{ node: string; id: string; data: Uint8Array }>): Promise<void> {
    let todo = messages;
    for (let attempt = 1; todo.length > 0; attempt++) {
      const errors = await this.engine.pipeline.publishAll(
        todo.map((m) => {
          const headers = this.engine.headers();
          headers.set('Nats-Msg-Id', m.id);
          return { subject: inboxSubject(m.node), data: m.data, headers };
        }),
      );
      const failed = todo.filter((_, i) => errors[i] !== undefined);
      if (failed.length === 0) return this.engine.leaseHeld();
      if (this.engine.closing) throw new Error('engine closing with inbox batches unacknowledged');
      if (attempt === 1 || attempt % 10 === 0) {
        const reason = errors.find((e) => e !== undefined)!;
        this.logger.warn({ err: reason.message, batches: failed.length, attempt }, 'cluster: inbox batches not acknowledged; resending with the same ids');
      }
      todo = failed;
      await new Promise((r) => setTimeout(r, Math.min(1000, 50 * attempt)));
    }
  }

  /** Creates this node's durable consumer (idempotent) and starts reading the inbox and QoS 0. */
  async start(handler: InboxHandler): Promise<void> {
    const { AckPolicy, DeliverPolicy, nanos } = this.engine.nats;
    await this.engine.retry('inbox consumer', () =>
      this.engine.jsm.consumers.add(INBOX_STREAM, {
        durable_name: inboxConsumer(this.nodeId),
        filter_subject: inboxSubject(this.nodeId),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(30_000),
        max_ack_pending: 1024,
      }),
    );
    this.engine.nc.subscribe(qos0Subject(this.nodeId), {
      callback: (error, msg) => {
        if (error) return;
        try {
          handler.onQos0(decodeBatch(msg.data));
        } catch (failure) {
          this.logger.warn({ err: (failure as Error).message }, 'cluster: QoS 0 batch dropped');
        }
      },
    });
    let isStopped = false;
    this.stopConsuming = () => {
      isStopped = true;
    };
    // A loop of bounded pulls rather than the client's long-lived consume(): after an engine
    // failover a consume() could hang with work pending; a pull ends by its expiry whatever happens.
    void (async () => {
      let consumer: Awaited<ReturnType<typeof this.engine.js.consumers.get>> | undefined;
      while (!isStopped && !this.engine.closing) {
        try {
          consumer ??= await this.engine.js.consumers.get(INBOX_STREAM, inboxConsumer(this.nodeId));
          const messages = await consumer.fetch({ max_messages: 256, expires: 2000 });
          for await (const msg of messages) {
            if (isStopped) break;
            this.onInboxMessage(msg, handler);
          }
        } catch (error) {
          if (isStopped || this.engine.closing) return;
          consumer = undefined;
          this.logger.warn({ err: (error as Error).message }, 'cluster: inbox pull failed; retrying');
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    })();
  }

  private onInboxMessage(msg: JsMsg, handler: InboxHandler): void {
    if (handler.appliedUpTo !== undefined && msg.seq <= handler.appliedUpTo) {
      msg.ack();
      return;
    }
    let deliveries: Delivery[];
    try {
      deliveries = decodeBatch(msg.data);
    } catch (error) {
      // Nothing can ever read it: dropping it is the only way on (logged, never silent).
      this.logger.error({ err: (error as Error).message, seq: msg.seq }, 'cluster: undecodable inbox batch terminated');
      msg.term();
      return;
    }
    this.received += deliveries.length;
    this.inFlightBatches++;
    handler.onBatch(deliveries, msg.seq, (error) => {
      this.inFlightBatches--;
      // Custody: acked only once the sessions' records hold what the batch brought.
      if (error) msg.nak(1000);
      else msg.ack();
    });
  }

  /**
   * Reads a dead node's inbox to the end (its adopter does this): every batch handed to
   * `handler` and acked after its effects commit. Resolves once nothing is pending.
   */
  async drain(node: string, handler: InboxHandler, mode: 'what-is-there' | 'to-the-end'): Promise<number> {
    let batches = 0;
    let inFlight = 0;
    let consumer;
    try {
      consumer = await this.engine.js.consumers.get(INBOX_STREAM, inboxConsumer(node));
    } catch {
      return 0; // no inbox: nothing was ever sent there
    }
    // What the dead node had pulled and not acknowledged comes back only after the consumer's
    // ack wait (30 s): shortened, so the adopter gets it within a second or two.
    const { nanos } = this.engine.nats;
    await this.engine.jsm.consumers.update(INBOX_STREAM, inboxConsumer(node), { ack_wait: nanos(ADOPTION_ACK_WAIT_MS) }).catch(() => undefined);
    // With the short ack wait, a batch of this drain that takes longer to commit comes again:
    // each sequence is handled once (its latest delivery acked when its effects are committed).
    const latest = new Map<number, JsMsg>();
    let done = this.drained.get(node);
    if (!done) this.drained.set(node, (done = new Set()));
    // 'what-is-there': the inbox may still be fed (routes not switched yet), so read what it
    // held when this started; 'to-the-end': until it stays empty.
    let budget = mode === 'what-is-there' ? (await consumer.info()).num_pending : Number.POSITIVE_INFINITY;
    for (let idle = 0; idle < 2 && budget > 0; ) {
      const messages = await consumer.fetch({ max_messages: Math.min(256, budget), expires: 1000 });
      let got = 0;
      for await (const msg of messages) {
        got++;
        if (done.has(msg.seq)) {
          msg.ack();
          continue;
        }
        if (latest.has(msg.seq)) {
          latest.set(msg.seq, msg);
          continue;
        }
        budget--;
        if (handler.appliedUpTo !== undefined && msg.seq <= handler.appliedUpTo) {
          msg.ack();
          continue;
        }
        let deliveries: Delivery[];
        try {
          deliveries = decodeBatch(msg.data);
        } catch {
          msg.term();
          continue;
        }
        batches++;
        inFlight++;
        latest.set(msg.seq, msg);
        handler.onBatch(deliveries, msg.seq, (error) => {
          inFlight--;
          const current = latest.get(msg.seq)!;
          latest.delete(msg.seq);
          if (error) return current.nak(1000);
          done!.add(msg.seq);
          current.ack();
          if (current !== msg) msg.ack();
        });
      }
      if (got > 0) {
        idle = 0;
        continue;
      }
      if (inFlight > 0) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      const info = await consumer.info();
      if (info.num_pending === 0 && info.num_ack_pending === 0 && inFlight === 0) idle++;
    }
    while (inFlight > 0) await new Promise((r) => setTimeout(r, 20));
    return batches;
  }

  /** Deletes a node's inbox consumer once its adopter has read it. */
  async removeConsumer(node: string): Promise<void> {
    this.drained.delete(node);
    await this.engine.jsm.consumers.delete(INBOX_STREAM, inboxConsumer(node)).catch(() => undefined);
  }

  /** Nodes that have an inbox consumer (alive or not). */
  async inboxNodes(): Promise<string[]> {
    const nodes: string[] = [];
    const lister = this.engine.jsm.consumers.list(INBOX_STREAM);
    for await (const info of lister) {
      if (info.name.startsWith('in_')) nodes.push(info.name.slice(3));
    }
    return nodes;
  }

  /** Waits (bounded) until everything in this node's inbox so far is delivered and committed. */
  async caughtUp(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const info = await this.engine.jsm.consumers.info(INBOX_STREAM, inboxConsumer(this.nodeId));
        if (info.num_pending === 0 && info.num_ack_pending === 0 && this.inFlightBatches === 0) return true;
      } catch {
        /* engine busy: try again */
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }

  /** Messages waiting in this node's inbox (admin API). */
  async lag(): Promise<number | undefined> {
    try {
      const info = await this.engine.jsm.consumers.info(INBOX_STREAM, inboxConsumer(this.nodeId));
      return info.num_pending + info.num_ack_pending;
    } catch {
      return undefined;
    }
  }

  stop(): void {
    this.stopConsuming?.();
  }
}

function* chunks(deliveries: Delivery[]): Generator<Delivery[]> {
  let chunk: Delivery[] = [];
  let bytes = 0;
  for (const delivery of deliveries) {
    const size = approximateSize(delivery);
    if (chunk.length > 0 && bytes + size > MAX_BATCH_BYTES) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(delivery);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
