/** The default JSON body of a message: `{ id, topic, qos, retain, timestamp, payload, userProperties }`. */
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

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The payload as text when it is valid UTF-8, or undefined. */
export function utf8OrUndefined(payload: Buffer): string | undefined {
  try {
    return strictUtf8.decode(payload);
  } catch {
    return undefined;
  }
}

export function envelopeOf(m: ConnectorMessage): Envelope {
  const text = utf8OrUndefined(m.message.payload);
  const envelope: Envelope = {
    id: m.id,
    topic: m.message.topic,
    qos: m.message.qos,
    retain: m.retain,
    timestamp: new Date(m.timestamp).toISOString(),
    payload: text ?? m.message.payload.toString('base64'),
    userProperties: { ...(m.message.properties?.userProperties ?? {}) },
  };
  if (text === undefined) envelope.payloadEncoding = 'base64';
  if (m.message.properties?.contentType !== undefined) envelope.contentType = m.message.properties.contentType;
  if (m.isRedelivered) envelope.redelivered = true;
  return envelope;
}
