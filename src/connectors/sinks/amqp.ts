/**
 * AMQP 0-9-1 sink (amqplib, RabbitMQ): a ConfirmChannel, persistent messages, `mandatory` so an
 * unroutable message comes back (basic.return, before its ack) instead of being silently
 * confirmed, and exchange/routing-key templates (MQTT `/` → AMQP `.` with `|dots`). amqplib does
 * not reconnect: a lost or hung connection is dropped and the next batch opens a new one.
 */
import type { ChannelModel, ConfirmChannel, Options } from 'amqplib';
import type { AmqpSinkConfig } from '../../config/index.js';
import { closeAmqpConnection, destroyAmqpConnection } from '../amqp-link.js';
import { amqpPublishPropertiesOf } from '../amqp-properties.js';
import { ConfirmWatchdog } from '../confirm-watchdog.js';
import { SinkError } from '../errors.js';
import { Template } from '../template.js';
import type { ConnectorMessage, Sink } from '../types.js';

/** Topics whose shared header tables are kept (then forgotten at once, like Template's memo). */
const OWN_HEADERS_MEMO_SIZE = 10_000;

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
  /** Drops the current channel once it stops confirming for `timeoutMs` (see confirm-watchdog.ts). */
  private watchdog: ConfirmWatchdog | undefined;
  /**
   * Midge's own headers of a message that has no others, one table per topic and QoS (index
   * 0-2): a fleet publishes on few topics many times, and amqplib only reads the table it is given.
   */
  private readonly ownHeadersByTopic = new Map<string, Record<string, unknown>[]>();

  constructor(private readonly settings: AmqpSinkSettings) {
    this.exchange = new Template(settings.sink.exchange);
    this.routingKey = new Template(settings.sink.routingKey);
    this.body = settings.sink.body === undefined ? undefined : new Template(settings.sink.body);
  }

  async open(): Promise<void> {
    await this.ensureChannel();
  }

  async close(): Promise<void> {
    await this.drop(new Error('sink closed'));
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
      if (this.connection === connection) void this.drop(new Error('amqp connection closed'));
    });
    let channel: ConfirmChannel;
    try {
      channel = await connection.createConfirmChannel();
    } catch (error) {
      destroyAmqpConnection(connection);
      throw classifyAmqpError(error);
    }
    channel.on('error', (error: unknown) => {
      if (this.channel === channel) void this.drop(error as Error);
    });
    channel.on('close', () => {
      if (this.channel === channel) void this.drop(new Error('amqp channel closed'));
    });
    channel.on('return', (message: { properties: { messageId?: string } }) => {
      if (message.properties.messageId !== undefined) this.returned.add(message.properties.messageId);
    });
    const timeoutMs = this.settings.sink.timeoutMs;
    const watchdog = new ConfirmWatchdog(timeoutMs, (silentMs) => {
      if (this.channel !== channel) return;
      // Hung: the connection's state is unknown, so it is cut (a new one next time).
      void this.drop(new Error(`no publisher confirm for ${Math.round(silentMs)} ms (timeoutMs ${timeoutMs})`));
      destroyAmqpConnection(connection);
    });
    // A memory or disk alarm: RabbitMQ is alive and holds our publishes until it clears.
    connection.on('blocked', () => watchdog.blocked());
    connection.on('unblocked', () => watchdog.unblocked());
    this.connection = connection;
    this.channel = channel;
    this.watchdog = watchdog;
    return channel;
  }

  /**
   * Forgets the connection; whatever was unconfirmed on it fails (and is retried). Resolves once
   * it is closed (a hung server is given a second, then cut off).
   */
  private drop(error: Error): Promise<void> {
    const lost = this.onChannelLost;
    this.onChannelLost = [];
    const connection = this.connection;
    this.watchdog?.stop();
    this.watchdog = undefined;
    this.channel = undefined;
    this.connection = undefined;
    for (const reject of lost) reject(error);
    return closeAmqpConnection(connection);
  }

  private ownHeadersOf(topic: string, qos: number): Record<string, unknown> {
    let byQos = this.ownHeadersByTopic.get(topic);
    if (byQos === undefined) {
      if (this.ownHeadersByTopic.size >= OWN_HEADERS_MEMO_SIZE) this.ownHeadersByTopic.clear();
      byQos = [];
      this.ownHeadersByTopic.set(topic, byQos);
    }
    return (byQos[qos] ??= { 'x-mqtt-topic': topic, 'x-mqtt-qos': qos });
  }

  private optionsOf(m: ConnectorMessage, now: number): Options.Publish {
    const s = this.settings.sink;
    const message = m.message;
    const mapped = s.mapProperties && (message.properties !== undefined || message.expiresAt !== undefined) ? amqpPublishPropertiesOf(message, now) : undefined;
    // Midge's own headers last: a user property cannot pose as them (x-… ones are never mapped).
    let headers: Record<string, unknown>;
    if (mapped?.headers) headers = { ...mapped.headers, 'x-mqtt-topic': message.topic, 'x-mqtt-qos': message.qos };
    else if (!m.isRedelivered) headers = this.ownHeadersOf(message.topic, message.qos);
    else headers = { 'x-mqtt-topic': message.topic, 'x-mqtt-qos': message.qos };
    if (m.isRedelivered) headers['x-midge-redelivered'] = 1;
    const options: Options.Publish = { persistent: s.persistent, mandatory: s.mandatory, messageId: m.id, timestamp: Math.floor(m.timestamp / 1000), headers };
    if (mapped?.expiration !== undefined) options.expiration = mapped.expiration;
    if (mapped?.replyTo !== undefined) options.replyTo = mapped.replyTo;
    if (mapped?.correlationId !== undefined) options.correlationId = mapped.correlationId;
    const contentType = s.contentType ?? message.properties?.contentType;
    if (contentType !== undefined) options.contentType = contentType;
    return options;
  }

  async send(batch: readonly ConnectorMessage[]): Promise<void> {
    const channel = await this.ensureChannel();
    const watchdog = this.channel === channel ? this.watchdog : undefined;
    if (!watchdog) throw new SinkError('transient', 'amqp: channel closed', { confirmed: 0 });
    /** Per message: 0 waiting for its confirm, 1 confirmed, 2 nacked. */
    const confirms = new Uint8Array(batch.length);
    /** How many of the first messages are confirmed, all of them. */
    let confirmedCount = 0;
    let lost: ((error: Error) => void) | undefined;
    try {
      // One promise per batch, settled by the confirm callbacks (no per-message promise or race).
      // No deadline of its own: the channel's watchdog drops a channel that stopped confirming,
      // and that rejects every batch waiting on it (onChannelLost).
      await new Promise<void>((resolve, reject) => {
        lost = reject;
        this.onChannelLost.push(reject);
        const advance = (): void => {
          while (confirmedCount < confirms.length && confirms[confirmedCount] === 1) confirmedCount++;
          if (confirmedCount === confirms.length) resolve();
          else if (confirms[confirmedCount] === 2) reject(new Error('amqp: message nacked by the broker'));
        };
        const now = Date.now();
        watchdog.published(batch.length);
        for (let i = 0; i < batch.length; i++) {
          const m = batch[i]!;
          if (this.returned.size > 0) this.returned.delete(m.id);
          const body = this.body ? Buffer.from(this.body.render(m)) : m.message.payload;
          channel.publish(this.exchange.renderCached(m), this.routingKey.renderCached(m), body, this.optionsOf(m, now), (error) => {
            watchdog.confirmed();
            confirms[i] = error ? 2 : 1;
            advance();
          });
        }
        if (batch.length === 0) resolve();
      });
    } catch (error) {
      // Lost, hung or nacked: the connection's state is unknown, so it is dropped (a new one next time).
      if (this.channel === channel) {
        const connection = this.connection;
        void this.drop(error as Error);
        destroyAmqpConnection(connection);
      }
      const classified = classifyAmqpError(error);
      throw new SinkError(classified.errorClass, classified.reason, { confirmed: confirmedCount, cause: error });
    } finally {
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
