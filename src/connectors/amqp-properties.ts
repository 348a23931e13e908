/**
 * AMQP 0-9-1 message properties ↔ MQTT 5 properties, both ways:
 *   expiration (ms, a string)  ↔ Message Expiry Interval (s)
 *   replyTo                    ↔ Response Topic
 *   correlationId              ↔ Correlation Data (UTF-8 text only: correlationId is a short string)
 *   contentType                ↔ Content Type
 *   headers (not `x-…`)        ↔ user properties
 * `x-…` headers are the brokers' and Midge's own (x-death, x-mqtt-topic…), never user properties.
 * A value that has no place on the other side (a nested header table, a binary correlation id, a
 * reply-to with MQTT wildcards) is left out rather than mangled.
 */
import type { MessagePropertyHeaders, Options } from 'amqplib';
import type { Message } from '../store/index.js';
import { isValidTopicName } from '../topics/index.js';
import { utf8OrUndefined } from './envelope.js';
import type { RecordProperties } from './sources/types.js';

/** The AMQP properties amqplib hands a consumer (the ones read here). */
export interface AmqpReceivedProperties {
  expiration?: unknown;
  timestamp?: unknown;
  replyTo?: unknown;
  correlationId?: unknown;
  contentType?: unknown;
  headers?: MessagePropertyHeaders;
}

const isExtensionHeader = (name: string): boolean => name.toLowerCase().startsWith('x-');

function headerText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Buffer.isBuffer(value)) return utf8OrUndefined(value);
  if (value instanceof Date) return value.toISOString();
  return undefined;
}

/** Headers as user properties: scalars as text, arrays of scalars as repeated properties. */
export function userPropertiesOfHeaders(headers: MessagePropertyHeaders | undefined): Record<string, string | string[]> | undefined {
  if (!headers) return undefined;
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (isExtensionHeader(name)) continue;
    if (Array.isArray(value)) {
      const texts = value.map(headerText);
      if (texts.every((t): t is string => t !== undefined)) out[name] = texts;
      continue;
    }
    const text = headerText(value);
    if (text !== undefined) out[name] = text;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * What an AMQP delivery carries for its MQTT message. The expiry counts from the AMQP
 * `timestamp` (seconds: the end of that second, so a live message is never taken for expired)
 * when it has one, else from `now` (RabbitMQ does not stamp messages: the time spent in its
 * queue is then unknown, and RabbitMQ itself drops a message whose TTL ran out in the queue).
 */
export function amqpPropertiesOf(p: AmqpReceivedProperties, now: number): { properties?: Partial<RecordProperties>; expiresAt?: number } {
  const properties: Partial<RecordProperties> = {};
  // Response Topic: a topic name, no wildcards [5.0 MQTT-3.3.2-14].
  if (typeof p.replyTo === 'string' && p.replyTo !== '' && isValidTopicName(p.replyTo)) properties.responseTopic = p.replyTo;
  if (typeof p.correlationId === 'string' && p.correlationId !== '') properties.correlationData = Buffer.from(p.correlationId, 'utf8');
  if (typeof p.contentType === 'string' && p.contentType !== '') properties.contentType = p.contentType;
  const userProperties = userPropertiesOfHeaders(p.headers);
  if (userProperties) properties.userProperties = userProperties;
  const out: { properties?: Partial<RecordProperties>; expiresAt?: number } = {};
  if (Object.keys(properties).length > 0) out.properties = properties;
  const ttl = typeof p.expiration === 'string' || typeof p.expiration === 'number' ? Number(p.expiration) : NaN;
  if (Number.isFinite(ttl) && ttl >= 0) {
    const stamped = typeof p.timestamp === 'number' && p.timestamp > 0 ? p.timestamp * 1000 + 999 : now;
    out.expiresAt = Math.min(stamped, now) + ttl;
  }
  return out;
}

/**
 * The AMQP properties for an MQTT message a sink publishes: its remaining expiry as
 * `expiration`, Response Topic as `replyTo`, Correlation Data (when it is UTF-8 text of at most
 * 255 bytes) as `correlationId`, user properties as headers. (Content Type the sink sets itself.)
 */
export function amqpPublishPropertiesOf(message: Message, now: number): Pick<Options.Publish, 'expiration' | 'replyTo' | 'correlationId'> & { headers?: Record<string, string | string[]> } {
  const out: Pick<Options.Publish, 'expiration' | 'replyTo' | 'correlationId'> & { headers?: Record<string, string | string[]> } = {};
  if (message.expiresAt !== undefined) out.expiration = String(Math.max(1, message.expiresAt - now));
  const p = message.properties;
  if (!p) return out;
  if (p.responseTopic !== undefined) out.replyTo = p.responseTopic;
  if (p.correlationData !== undefined && p.correlationData.length <= 255) {
    const text = utf8OrUndefined(p.correlationData);
    if (text !== undefined) out.correlationId = text;
  }
  if (p.userProperties) {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(p.userProperties)) if (!isExtensionHeader(name)) headers[name] = value;
    if (Object.keys(headers).length > 0) out.headers = headers;
  }
  return out;
}
