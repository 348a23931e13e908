/** The default JSON body of a message: `{ id, topic, qos, retain, timestamp, payload, userProperties }`. */
import { isUtf8 } from 'node:buffer';
import type { ConnectorMessage } from './types.js';

export interface Envelope {
  id: string;
  topic: string;
  qos: number;
  retain: boolean;
  timestamp: string;
  /** UTF-8 text when the payload is valid UTF-8, else base64 (then payloadEncoding says so). */
  payload: string;
  payloadEncoding?: 'base64';
  userProperties: Record<string, string | string[]>;
  contentType?: string;
  redelivered?: true;
}

/** The payload as text when it is valid UTF-8, or undefined. */
export function utf8OrUndefined(payload: Buffer): string | undefined {
  return isUtf8(payload) ? payload.toString('utf8') : undefined;
}

export function envelopeOf(m: ConnectorMessage): Envelope {
  const text = utf8OrUndefined(m.message.payload);
  const envelope: Envelope = {
    id: m.id,
    topic: m.message.topic,
    qos: m.message.qos,
    retain: m.retain,
    timestamp: isoTimestamp(m.timestamp),
    payload: text ?? m.message.payload.toString('base64'),
    userProperties: { ...(m.message.properties?.userProperties ?? {}) },
  };
  if (text === undefined) envelope.payloadEncoding = 'base64';
  if (m.message.properties?.contentType !== undefined) envelope.contentType = m.message.properties.contentType;
  if (m.isRedelivered) envelope.redelivered = true;
  return envelope;
}

/**
 * `JSON.stringify(envelopeOf(m))`, byte for byte, without building the object: this runs once
 * per message on the HTTP sink's path (test/connectors/envelope.test.ts holds the two equal).
 */
export function envelopeJsonOf(m: ConnectorMessage): string {
  const message = m.message;
  const text = utf8OrUndefined(message.payload);
  const properties = message.properties;
  let json = `{"id":${JSON.stringify(m.id)},"topic":${JSON.stringify(message.topic)},"qos":${message.qos},"retain":${m.retain},"timestamp":"${isoTimestamp(m.timestamp)}","payload":${text === undefined ? `"${message.payload.toString('base64')}"` : JSON.stringify(text)},"userProperties":${properties?.userProperties ? JSON.stringify(properties.userProperties) : '{}'}`;
  if (text === undefined) json += ',"payloadEncoding":"base64"';
  if (properties?.contentType !== undefined) json += `,"contentType":${JSON.stringify(properties.contentType)}`;
  if (m.isRedelivered) json += ',"redelivered":true';
  return `${json}}`;
}

/** One entry: the messages of a batch mostly share their millisecond. */
let lastTimestamp = { ms: Number.NaN, iso: '' };

function isoTimestamp(ms: number): string {
  if (lastTimestamp.ms !== ms) lastTimestamp = { ms, iso: new Date(ms).toISOString() };
  return lastTimestamp.iso;
}
