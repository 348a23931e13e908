/**
 * AMQP 0-9-1 source (amqplib, RabbitMQ): consumes a queue with manual acks and a prefetch window.
 * Each delivery is acked only once Midge committed its message; one that is requeued is held for
 * the configured delay, then nacked back to the queue. A lost connection leaves every unacked
 * delivery with RabbitMQ, which redelivers it (flagged redelivered) to the next consumer. The
 * operator's pause cancels the consumer (basic.cancel; what was delivered finishes) and resume
 * consumes again on the same channel.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { AmqpSourceConfig } from '../../config/index.js';
import { closeAmqpConnection } from '../amqp-link.js';
import { amqpPropertiesOf } from '../amqp-properties.js';
import { SourceStopped, type SourceBackend, type SourceHandler, type SourceRecord } from './types.js';

export interface AmqpSourceSettings {
  url: string;
  source: AmqpSourceConfig;
}

export function recordOf(message: ConsumeMessage, mapsProperties: boolean, now: number): SourceRecord {
  const p = message.properties;
  const fields: Record<string, unknown> = {
    routingKey: message.fields.routingKey,
    exchange: message.fields.exchange,
    headers: p.headers ?? {},
  };
  for (const key of ['messageId', 'correlationId', 'replyTo', 'contentType', 'type', 'appId', 'userId', 'expiration', 'timestamp'] as const) {
    if (p[key] !== undefined) fields[key] = p[key];
  }
  const record: SourceRecord = { id: `${message.fields.deliveryTag}`, fields, payload: message.content, isRedelivered: message.fields.redelivered };
  return mapsProperties ? { ...record, ...amqpPropertiesOf(p, now) } : record;
}

/** The channel being consumed and, while not paused, its consumer's tag. */
interface Consuming {
  channel: Channel;
  onMessage: (message: ConsumeMessage | null) => void;
  finish: (error?: Error) => void;
  consumerTag: string | undefined;
}

export class AmqpSource implements SourceBackend {
  readonly kind = 'amqp';
  private endConsume: (() => void) | undefined;
  private isStopped = false;
  private isPaused = false;
  private consuming: Consuming | undefined;
  /** basic.consume / basic.cancel one at a time, so a quick pause-resume cannot leave two consumers. */
  private syncing: Promise<void> = Promise.resolve();

  constructor(private readonly settings: AmqpSourceSettings) {}

  async consume(handler: SourceHandler): Promise<void> {
    if (this.isStopped) return;
    const amqp = await import('amqplib');
    const connection = await amqp.connect(this.settings.url, { timeout: 10_000 });
    try {
      await new Promise<void>((resolve, reject) => {
        let isDone = false;
        const finish = (error?: Error): void => {
          if (isDone) return;
          isDone = true;
          this.endConsume = undefined;
          this.consuming = undefined;
          if (error && !this.isStopped) reject(error);
          else resolve();
        };
        this.endConsume = () => finish();
        connection.on('error', (error: Error) => finish(error));
        connection.on('close', () => finish(new Error('amqp connection closed')));
        void this.openChannel(connection, handler, finish).catch((error: unknown) => finish(error as Error));
      });
    } finally {
      await closeAmqpConnection(connection);
    }
  }

  private async openChannel(connection: ChannelModel, handler: SourceHandler, finish: (error?: Error) => void): Promise<void> {
    const s = this.settings.source;
    const channel: Channel = await connection.createChannel();
    channel.on('error', (error: Error) => finish(error));
    channel.on('close', () => finish(new Error('amqp channel closed')));
    if (s.assertQueue) await channel.assertQueue(s.queue, { durable: true });
    else await channel.checkQueue(s.queue);
    await channel.prefetch(s.prefetch);
    const onMessage = (message: ConsumeMessage | null): void => {
      if (message === null) {
        finish(new Error(`amqp: consumer of ${s.queue} cancelled by the server`));
        return;
      }
      // Routed now (take publishes synchronously), in delivery order; acked after the commit.
      handler.take([recordOf(message, s.mapProperties, Date.now())]).then(
        ([outcome]) => {
          if (outcome === 'ack') {
            if (settle(() => channel.ack(message))) handler.acknowledged(1);
            return;
          }
          handler.requeued(1);
          // Held (it keeps its prefetch slot), then back to the queue: no hot redelivery loop.
          setTimeout(() => {
            if (!this.isStopped) settle(() => channel.nack(message, false, true));
          }, handler.requeueDelayMs).unref();
        },
        (error: unknown) => {
          // Stopping: nothing is acked; RabbitMQ redelivers when the connection closes.
          if (!(error instanceof SourceStopped)) finish(error as Error);
        },
      );
    };
    this.consuming = { channel, onMessage, finish, consumerTag: undefined };
    await this.syncConsumer();
    handler.connected();
  }

  setPaused(isPaused: boolean): void {
    this.isPaused = isPaused;
    void this.syncConsumer();
  }

  /** Consumes while neither paused nor stopped, cancels the consumer otherwise. */
  private syncConsumer(): Promise<void> {
    this.syncing = this.syncing.then(async () => {
      const c = this.consuming;
      if (!c) return;
      const wantsConsumer = !this.isPaused && !this.isStopped;
      try {
        if (wantsConsumer && c.consumerTag === undefined) {
          c.consumerTag = (await c.channel.consume(this.settings.source.queue, c.onMessage, { noAck: false })).consumerTag;
        } else if (!wantsConsumer && c.consumerTag !== undefined) {
          const tag = c.consumerTag;
          c.consumerTag = undefined;
          await c.channel.cancel(tag);
        }
      } catch (error) {
        c.finish(error as Error);
      }
    });
    return this.syncing;
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    this.endConsume?.();
  }
}

/**
 * Acks or nacks; false when the channel is gone meanwhile (RabbitMQ then redelivers the message
 * itself, so nothing is lost — and a throw here, in a callback, would take the broker down).
 */
function settle(action: () => void): boolean {
  try {
    action();
    return true;
  } catch {
    return false;
  }
}
