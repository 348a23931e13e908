/**
 * AMQP 0-9-1 sink (amqplib, RabbitMQ): a ConfirmChannel, persistent messages, `mandatory` so an
 * unroutable message comes back (basic.return, before its ack) instead of being silently
 * confirmed, and exchange/routing-key templates (MQTT `/` → AMQP `.` with `|dots`). amqplib does
 * not reconnect: a lost or hung connection is dropped and the next batch opens a new one.
 */
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import type { AmqpSinkConfig } from '../../config/index.js';
import { amqpPublishPropertiesOf } from '../amqp-properties.js';
import { SinkError } from '../errors.js';
import { Template } from '../template.js';
import type { ConnectorMessage, Sink } from '../types.js';

export interface AmqpSinkSettings {
  url: string;
  sink: AmqpSinkConfig;
}

/** amqplib's errors carry the AMQP reply code: 403 access refused, 404 not found, 312 no route… */
export function classifyAmqpError(error: unknown): SinkError {
  const e = error as { code?: number | string; message?: string };
  const message = (e.message ?? String(error)).replace(/amqps?:\/\/[^@\s]*@/g, 'amqp://***@');
  const code = typeof e.code === 'number' ? e.code : Number(/\b(40[2-6]|530|312|313)\b/.exec(message)?.[1] ?? NaN);
  if (code === 403 || code === 530 || code === 404 || code === 402 || /ACCESS[-_]REFUSED|NOT[-_]FOUND|NOT[-_]ALLOWED/.test(message)) {
    return new SinkError('configuration', `amqp: ${message.slice(0, 160)}`, { cause: error });
  }
  return new SinkError('transient', `amqp: ${(typeof e.code === 'string' ? e.code : message).slice(0, 160)}`, { cause: error });
}

export class AmqpSink implements Sink {
  readonly kind = 'amqp';
  private connection: ChannelModel | undefined;
  private channel: ConfirmChannel | undefined;
  private connecting: Promise<ConfirmChannel> | undefined;
  private readonly exchange: Template;
  private readonly routingKey: Template;
  private readonly body: Template | undefined;
  /** Message ids RabbitMQ returned as unroutable (basic.return comes before the ack). */
  private readonly returned = new Set<string>();
  /** Rejects the pending confirms of the current channel when it closes. */
  private onChannelLost: ((error: Error) => void)[] = [];

  constructor(private readonly settings: AmqpSinkSettings) {
    this.exchange = new Template(settings.sink.exchange);
    this.routingKey = new Template(settings.sink.routingKey);
    this.body = settings.sink.body === undefined ? undefined : new Template(settings.sink.body);
  }

  async open(): Promise<void> {
    await this.ensureChannel();
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.drop(new Error('sink closed'));
    // A hung server would never answer connection.close: give it a moment, then cut the socket.
    await Promise.race([connection?.close().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    destroySocket(connection);
  }

  private async ensureChannel(): Promise<ConfirmChannel> {
    if (this.channel) return this.channel;
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<ConfirmChannel> {
    const amqp = await import('amqplib');
    let connection: ChannelModel;
    try {
      connection = await amqp.connect(this.settings.url, { timeout: this.settings.sink.timeoutMs });
    } catch (error) {
      throw classifyAmqpError(error);
    }
    connection.on('error', () => undefined); // 'close' follows; the next batch reconnects
    connection.on('close', () => {
      if (this.connection === connection) this.drop(new Error('amqp connection closed'));
    });
    let channel: ConfirmChannel;
    try {
      channel = await connection.createConfirmChannel();
    } catch (error) {
      destroySocket(connection);
      throw classifyAmqpError(error);
    }
    channel.on('error', (error: unknown) => {
      if (this.channel === channel) this.drop(error as Error);
    });
    channel.on('close', () => {
      if (this.channel === channel) this.drop(new Error('amqp channel closed'));
    });
    channel.on('return', (message: { properties: { messageId?: string } }) => {
      if (message.properties.messageId !== undefined) this.returned.add(message.properties.messageId);
    });
    this.connection = connection;
    this.channel = channel;
    return channel;
  }

  /** Forgets the connection; whatever was unconfirmed on it fails (and is retried). */
  private drop(error: Error): void {
    const lost = this.onChannelLost;
    this.onChannelLost = [];
    const connection = this.connection;
    this.channel = undefined;
    this.connection = undefined;
    for (const reject of lost) reject(error);
    if (connection) void connection.close().catch(() => undefined);
  }

  async send(batch: readonly ConnectorMessage[]): Promise<void> {
    const channel = await this.ensureChannel();
    const s = this.settings.sink;
    const confirms: Promise<void>[] = [];
    let lost!: (error: Error) => void;
    const channelLost = new Promise<never>((_, reject) => (lost = reject));
    channelLost.catch(() => undefined);
    this.onChannelLost.push(lost);
    const now = Date.now();
    for (const m of batch) {
      this.returned.delete(m.id);
      const mapped = s.mapProperties && (m.message.properties !== undefined || m.message.expiresAt !== undefined) ? amqpPublishPropertiesOf(m.message, now) : undefined;
      const options: Options.Publish = {
        ...mapped,
        persistent: s.persistent,
        mandatory: s.mandatory,
        messageId: m.id,
        timestamp: Math.floor(m.timestamp / 1000),
        // Midge's own headers last: a user property cannot pose as them (x-… ones are never mapped).
        headers: { ...mapped?.headers, 'x-mqtt-topic': m.message.topic, 'x-mqtt-qos': m.message.qos, ...(m.isRedelivered ? { 'x-midge-redelivered': 1 } : {}) },
      };
      const contentType = s.contentType ?? m.message.properties?.contentType;
      if (contentType !== undefined) options.contentType = contentType;
      const body = this.body ? Buffer.from(this.body.render(m)) : m.message.payload;
      confirms.push(
        new Promise<void>((resolve, reject) => {
          channel.publish(this.exchange.render(m), this.routingKey.render(m), body, options, (error) => (error ? reject(new Error('amqp: message nacked by the broker')) : resolve()));
        }),
      );
    }
    // Confirms we stop waiting for (the link dropped) still settle later: never unhandled.
    for (const confirm of confirms) confirm.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no publisher confirm within ${s.timeoutMs} ms`)), s.timeoutMs);
    });
    let confirmedCount = 0;
    try {
      for (const confirm of confirms) {
        await Promise.race([confirm, channelLost, timeout]);
        confirmedCount++;
      }
    } catch (error) {
      // Hung or lost: the connection's state is unknown, so it is dropped (a new one next time).
      if (this.channel === channel) {
        const connection = this.connection;
        this.drop(error as Error);
        destroySocket(connection);
      }
      const classified = classifyAmqpError(error);
      throw new SinkError(classified.errorClass, classified.reason, { confirmed: confirmedCount, cause: error });
    } finally {
      clearTimeout(timer);
      this.onChannelLost = this.onChannelLost.filter((f) => f !== lost);
    }
    // All confirmed; a returned one was confirmed without reaching a queue: that one is a data
    // error, the others are done (retrying them would only make duplicates).
    const unroutable = batch.filter((m) => this.returned.has(m.id));
    if (unroutable.length > 0) {
      for (const m of unroutable) this.returned.delete(m.id);
      throw new SinkError('data', `amqp: unroutable (no queue bound for ${this.routingKey.render(unroutable[0]!)})`, { confirmed: batch.filter((m) => !unroutable.includes(m)) });
    }
  }
}

function destroySocket(connection: ChannelModel | undefined): void {
  (connection as unknown as { connection?: { stream?: { destroy(): void } } } | undefined)?.connection?.stream?.destroy();
}
