/**
 * The on-disk record codec: keys that sort by owner then order, values that carry a format
 * version. Message payloads are stored as raw bytes after a small JSON header, so a 256 KiB
 * payload is not inflated by base64.
 */
import type { Message, OutgoingRecord, SessionRecord, SubscriptionRecord } from './types.js';

/** NUL cannot appear in MQTT strings [MQTT-1.5.3-2], so it separates key parts unambiguously. */
const SEP = '\u0000';
export const RECORD_VERSION = 1;

export const KeyPrefix = {
  session: 's',
  subscription: 'u',
  outgoing: 'o',
  incomingQos2: 'q',
  retained: 'r',
} as const;

export function sessionKey(clientId: string): string {
  return KeyPrefix.session + SEP + clientId;
}
/** All keys a client owns under one prefix lie in [start, end). */
export function ownedRange(prefix: string, clientId: string): { gte: string; lt: string } {
  return { gte: prefix + SEP + clientId + SEP, lt: prefix + SEP + clientId + '\u0001' };
}
export function subscriptionKey(clientId: string, filter: string): string {
  return KeyPrefix.subscription + SEP + clientId + SEP + filter;
}
/** Fixed-width hex keeps outgoing records in seq order under LevelDB's byte ordering. */
export function outgoingKey(clientId: string, seq: number): string {
  return KeyPrefix.outgoing + SEP + clientId + SEP + seq.toString(16).padStart(14, '0');
}
export function incomingQos2Key(clientId: string, packetId: number): string {
  return KeyPrefix.incomingQos2 + SEP + clientId + SEP + packetId.toString(16).padStart(4, '0');
}
export function retainedKey(topic: string): string {
  return KeyPrefix.retained + SEP + topic;
}
export function prefixRange(prefix: string): { gte: string; lt: string } {
  return { gte: prefix + SEP, lt: prefix + '\u0001' };
}
/** The last part of a key (after its final separator). */
export function keyTail(key: string): string {
  return key.slice(key.lastIndexOf(SEP) + 1);
}

export class CorruptRecordError extends Error {
  constructor(key: string, why: string) {
    super(`corrupt store record ${JSON.stringify(key.replaceAll(SEP, '/'))}: ${why}`);
    this.name = 'CorruptRecordError';
  }
}

/** [version:u8][headerLength:u32be][header JSON][payload bytes] */
function encodeWithPayload(header: unknown, payload: Buffer): Buffer {
  // The replacer runs for every key; only correlation data is ever binary, so skip it otherwise.
  const json = Buffer.from(JSON.stringify(header, hasCorrelationData(header) ? jsonReplacer : undefined));
  const out = Buffer.allocUnsafe(5 + json.length + payload.length);
  out.writeUInt8(RECORD_VERSION, 0);
  out.writeUInt32BE(json.length, 1);
  json.copy(out, 5);
  payload.copy(out, 5 + json.length);
  return out;
}

function decodeWithPayload<T>(key: string, value: Buffer): { header: T; payload: Buffer } {
  if (value.length < 5) throw new CorruptRecordError(key, 'truncated');
  const version = value.readUInt8(0);
  if (version !== RECORD_VERSION) throw new CorruptRecordError(key, `unknown record version ${version}`);
  const headerLength = value.readUInt32BE(1);
  if (5 + headerLength > value.length) throw new CorruptRecordError(key, 'truncated header');
  let header: T;
  try {
    header = JSON.parse(value.subarray(5, 5 + headerLength).toString('utf8'), jsonReviver) as T;
  } catch {
    throw new CorruptRecordError(key, 'unreadable header');
  }
  // Copy: the payload must not pin the whole read buffer.
  return { header, payload: Buffer.from(value.subarray(5 + headerLength)) };
}

type WithProperties = { properties?: { correlationData?: unknown } };

function hasCorrelationData(header: unknown): boolean {
  const h = header as WithProperties & { message?: WithProperties; will?: WithProperties };
  return h.properties?.correlationData !== undefined || h.message?.properties?.correlationData !== undefined || h.will?.properties?.correlationData !== undefined;
}

/** Buffers inside properties (correlation data) survive JSON as tagged base64. */
function jsonReplacer(this: unknown, _key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return { $b64: Buffer.from((value as { data: number[] }).data).toString('base64') };
  }
  return value;
}
function jsonReviver(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && typeof (value as { $b64?: unknown }).$b64 === 'string') {
    return Buffer.from((value as { $b64: string }).$b64, 'base64');
  }
  return value;
}

type MessageHeader = Omit<Message, 'payload'>;

export function encodeMessage(message: Message): Buffer {
  const { payload, ...header } = message;
  return encodeWithPayload(header, payload);
}
export function decodeMessage(key: string, value: Buffer): Message {
  const { header, payload } = decodeWithPayload<MessageHeader>(key, value);
  if (typeof header.topic !== 'string') throw new CorruptRecordError(key, 'message without topic');
  return { ...header, payload };
}

export function encodeOutgoing(record: OutgoingRecord): Buffer {
  const { message, ...rest } = record;
  const { payload, ...messageHeader } = message;
  return encodeWithPayload({ ...rest, message: messageHeader }, payload);
}
export function decodeOutgoing(key: string, value: Buffer): OutgoingRecord {
  const { header, payload } = decodeWithPayload<Omit<OutgoingRecord, 'message'> & { message: MessageHeader }>(key, value);
  if (typeof header.seq !== 'number' || !header.message) throw new CorruptRecordError(key, 'outgoing record incomplete');
  return { ...header, message: { ...header.message, payload } };
}

export function encodeJson(value: unknown): Buffer {
  return encodeWithPayload(value, Buffer.alloc(0));
}
export function decodeJson<T>(key: string, value: Buffer): T {
  return decodeWithPayload<T>(key, value).header;
}

export function encodeSession(record: SessionRecord): Buffer {
  if (!record.will) return encodeJson(record);
  const { will, ...rest } = record;
  const { payload, ...willHeader } = will;
  return encodeWithPayload({ ...rest, will: willHeader }, payload);
}
export function decodeSession(key: string, value: Buffer): SessionRecord {
  const { header, payload } = decodeWithPayload<SessionRecord>(key, value);
  if (typeof header.clientId !== 'string') throw new CorruptRecordError(key, 'session without client id');
  if (header.will) header.will = { ...header.will, payload };
  return header;
}

export function encodeSubscription(record: SubscriptionRecord): Buffer {
  return encodeJson(record);
}
export function decodeSubscription(key: string, value: Buffer): SubscriptionRecord {
  const record = decodeJson<SubscriptionRecord>(key, value);
  if (typeof record.filter !== 'string') throw new CorruptRecordError(key, 'subscription without filter');
  return record;
}
