/**
 * Durable queues in the engine (cluster mode): one JetStream stream per queue, bounded by the
 * queue's maxMessages/maxBytes and its overflow side, replicated `cluster.replicas` times, with
 * one durable pull consumer that every node pulls from — so each message goes to one node (and
 * one consumer there), and one a node took and never settled (it died) is delivered again once
 * its ack wait lapses. A message appended again carries the deliveries it has had so far in a
 * header (a consumer left it unacknowledged; a node with no consumer left gave it back): the
 * engine's own count also counts the second case, which is no delivery. The queues module uses this
 * through the structural `QueueEngine` interface it declares (src/queues/cluster-queue.ts); the
 * composition wires the two, so neither module imports the other.
 */
import { EngineError } from './ack-pipeline.js';
import { keyHash, type Engine, type JsMsg } from './engine.js';

export interface EngineQueueOptions {
  name: string;
  maxMessages: number;
  maxBytes: number;
  /** Overflow: true drops the oldest message, false refuses the newest. */
  discardOld: boolean;
  /** How long a message pulled by a node stays with it without an ack or a progress note. */
  ackWaitMs: number;
  /** The queue's dead letters, held for replay: a stream of their own (`MIDGE_DLQ_…`). */
  isDeadLetters?: boolean;
}

/** One message as pulled: the payload stored, its delivery counts, and its settlement. */
export interface EngineQueueMessage {
  readonly data: Uint8Array;
  /** 1 on the first delivery of this append to any node, 2 on the next… (kept by the engine, replicated). */
  readonly deliveryCount: number;
  /** Deliveries before this append (the header of a message appended again; 0 for a new one). */
  readonly earlierDeliveries: number;
  ack(): void;
  /** Back to the queue at once, for any node to pull. */
  nak(): void;
  /** Still being worked on: the ack wait starts again. */
  working(): void;
}

export type EnginePublishOutcome = 'stored' | 'full';

export interface EngineQueueAppend {
  data: Uint8Array;
  /** Unique per append (a resend with the same id is dropped by the stream). */
  id: string;
  /** A message appended again: its deliveries so far. */
  earlierDeliveries?: number;
}

export interface EngineQueue {
  /**
   * Appends the messages, pipelined; resolves once each is stored by the stream's quorum, or
   * refused at the stream's bound ('full'). Other failures are resent (same message id: the
   * stream drops duplicates) until they succeed or the engine closes (rejects).
   */
  publish(items: ReadonlyArray<EngineQueueAppend>): Promise<EnginePublishOutcome[]>;
  /** One pull request for up to `max` messages; `onMessage` gets each as it arrives; resolves when it ends. */
  pull(max: number, expiresMs: number, onMessage: (message: EngineQueueMessage) => void): Promise<void>;
  /** Messages stored (waiting or with a node) and when the oldest was stored (epoch ms). */
  depth(): Promise<{ messages: number; oldestAt: number | undefined }>;
}

export const queueStream = (name: string): string => `MIDGE_Q_${name.replace(/\./g, '_')}_${keyHash(name).slice(0, 8)}`;
export const queueSubject = (name: string): string => `midge.q.${keyHash(name)}`;
export const deadLetterStream = (name: string): string => `MIDGE_DLQ_${name.replace(/\./g, '_')}_${keyHash(name).slice(0, 8)}`;
const deadLetterSubject = (name: string): string => `midge.dlq.${keyHash(name)}`;
const QUEUE_CONSUMER = 'consumers';
const DELIVERIES_HEADER = 'Midge-Deliveries';

/** Ack answers that mean the stream is at its bound (DiscardNew). */
const isBoundRefusal = (error: EngineError): boolean => error.reason === 'refused' && /maximum (messages|bytes)/i.test(error.message);

export class EngineWorkQueues {
  constructor(private readonly engine: Engine) {}

  /** The queue's stream and consumer: created if absent, their bounds updated if present. */
  async open(options: EngineQueueOptions): Promise<EngineQueue> {
    const engine = this.engine;
    const { StorageType, RetentionPolicy, DiscardPolicy, AckPolicy, DeliverPolicy, nanos } = engine.nats;
    const stream = options.isDeadLetters ? deadLetterStream(options.name) : queueStream(options.name);
    const subject = options.isDeadLetters ? deadLetterSubject(options.name) : queueSubject(options.name);
    const config = {
      name: stream,
      subjects: [subject],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: engine.config.replicas,
      max_msgs: options.maxMessages,
      max_bytes: options.maxBytes,
      discard: options.discardOld ? DiscardPolicy.Old : DiscardPolicy.New,
      // Resends of a publish after a timeout carry the same Nats-Msg-Id and are dropped.
      duplicate_window: nanos(120_000),
    };
    await engine.retry(`queue stream ${stream}`, async () => {
      try {
        await engine.jsm.streams.info(stream);
        await engine.jsm.streams.update(stream, config);
      } catch (error) {
        if (!/not found/i.test((error as Error).message)) throw error;
        await engine.jsm.streams.add(config);
      }
    });
    const consumerConfig = {
      durable_name: QUEUE_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(options.ackWaitMs),
      // The queue counts deliveries itself (maxDeliveries → dead letter): the engine never gives up.
      max_deliver: -1,
      max_ack_pending: -1,
    };
    await engine.retry(`queue consumer ${stream}`, async () => {
      try {
        await engine.jsm.consumers.add(stream, consumerConfig);
      } catch (error) {
        // Another node made it with other settings (a changed ackWaitSeconds): this one's win.
        await engine.jsm.consumers.update(stream, QUEUE_CONSUMER, { ack_wait: consumerConfig.ack_wait }).catch(() => {
          throw error;
        });
      }
    });
    const consumer = await engine.retry(`queue consumer ${stream}`, () => engine.js.consumers.get(stream, QUEUE_CONSUMER));

    return {
      async publish(items) {
        const outcomes: EnginePublishOutcome[] = new Array<EnginePublishOutcome>(items.length).fill('stored');
        let todo = items.map((item, index) => ({ item, index }));
        for (let attempt = 1; todo.length > 0; attempt++) {
          const errors = await engine.pipeline.publishAll(
            todo.map(({ item }) => {
              const headers = engine.headers();
              headers.set('Nats-Msg-Id', item.id);
              if (item.earlierDeliveries) headers.set(DELIVERIES_HEADER, String(item.earlierDeliveries));
              return { subject, data: item.data, headers };
            }),
          );
          const failed: typeof todo = [];
          todo.forEach((entry, i) => {
            const error = errors[i];
            if (error === undefined) return;
            if (isBoundRefusal(error)) outcomes[entry.index] = 'full';
            else failed.push(entry);
          });
          if (failed.length === 0) break;
          if (engine.closing) throw new EngineError('closed', 'engine closing with queue writes unacknowledged');
          todo = failed;
          await new Promise((r) => setTimeout(r, Math.min(1000, 50 * attempt)));
        }
        return outcomes;
      },

      async pull(max, expiresMs, onMessage) {
        const messages = await consumer.fetch({ max_messages: max, expires: expiresMs });
        for await (const m of messages) onMessage(wrap(m));
      },

      async depth() {
        const info = await engine.jsm.streams.info(stream);
        const messages = info.state.messages;
        return { messages, oldestAt: messages > 0 ? Date.parse(info.state.first_ts) : undefined };
      },
    };
  }
}

function wrap(m: JsMsg): EngineQueueMessage {
  return {
    // A copy: the message outlives the engine's receive buffer.
    data: Uint8Array.prototype.slice.call(m.data),
    deliveryCount: m.info.deliveryCount,
    earlierDeliveries: Number(m.headers?.get(DELIVERIES_HEADER) || 0),
    ack: () => m.ack(),
    nak: () => m.nak(),
    working: () => m.working(),
  };
}
