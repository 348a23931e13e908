/**
 * The on-disk record codec: keys that sort by owner then order, values that carry a format
 * version. Message payloads are stored as raw bytes after a small JSON header, so a 256 KiB
 * payload is not inflated by base64.
 */
import type { QoS } from '../protocol/index.js';
import type { Message, OutgoingRecord, OutgoingState, SessionRecord, SubscriptionRecord } from './types.js';

/** NUL cannot appear in MQTT strings [3.1.1 MQTT-1.5.3-2] [5.0 MQTT-1.5.4-2], so it separates key parts unambiguously. */
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
const SEQ_ZEROS = '0'.repeat(14);

/**
 * `outgoingKey`, made cheaper for a batch of one client's records (a fill's puts, a drain's
 * deletes): the client's part of the key is built once and reused while the client stays the
 * same, and the padding is one slice instead of `padStart`. One per store, not shared: the
 * last client is all it remembers.
 */
export class OutgoingKeys {
  private clientId: string | undefined;
  private prefix = '';

  outgoing(clientId: string, seq: number): string {
    if (clientId !== this.clientId) {
      this.clientId = clientId;
      this.prefix = KeyPrefix.outgoing + SEP + clientId + SEP;
    }
    const hex = seq.toString(16);
    return this.prefix + SEQ_ZEROS.slice(hex.length) + hex;
  }
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

/**
 * Retained messages (and the cluster's copies of them) have a binary layout since version 2: the
 * JSON header was most of the cost of storing a retained message (15% of the broker's CPU on a
 * stream of retained QoS 1 publishes):
 *   [2:u8][flags:u8][topicLength:u16be][topic][extraLength:u32be][extra JSON: properties, expiresAt][payload]
 * flags: bits 0-1 QoS, bit 2 retain. Version-1 records (JSON header) are still read.
 */
const MESSAGE_RECORD_VERSION = 2;

interface MessageExtra {
  properties?: Message['properties'];
  expiresAt?: number;
}

export function encodeMessage(message: Message): Buffer {
  let extra: Buffer | undefined;
  if (message.properties !== undefined || message.expiresAt !== undefined) {
    const fields: MessageExtra = {};
    if (message.properties !== undefined) fields.properties = message.properties;
    if (message.expiresAt !== undefined) fields.expiresAt = message.expiresAt;
    extra = Buffer.from(JSON.stringify(fields, message.properties?.correlationData !== undefined ? jsonReplacer : undefined));
  }
  const topicLength = Buffer.byteLength(message.topic);
  const extraLength = extra ? extra.length : 0;
  const out = Buffer.allocUnsafe(4 + topicLength + 4 + extraLength + message.payload.length);
  out[0] = MESSAGE_RECORD_VERSION;
  out[1] = message.qos | (message.retain ? 4 : 0);
  out.writeUInt16BE(topicLength, 2);
  let offset = 4 + out.write(message.topic, 4, topicLength, 'utf8');
  out.writeUInt32BE(extraLength, offset);
  offset += 4;
  if (extra) offset += extra.copy(out, offset);
  message.payload.copy(out, offset);
  return out;
}

export function decodeMessage(key: string, value: Buffer): Message {
  if (value.length > 0 && value[0] === RECORD_VERSION) return decodeMessageV1(key, value);
  if (value.length < 8) throw new CorruptRecordError(key, 'truncated');
  if (value[0] !== MESSAGE_RECORD_VERSION) throw new CorruptRecordError(key, `unknown record version ${value[0]}`);
  const flags = value[1]!;
  const topicLength = value.readUInt16BE(2);
  let offset = 4 + topicLength;
  if (offset + 4 > value.length) throw new CorruptRecordError(key, 'truncated topic');
  const topic = value.toString('utf8', 4, offset);
  const extraLength = value.readUInt32BE(offset);
  offset += 4;
  if (offset + extraLength > value.length) throw new CorruptRecordError(key, 'truncated header');
  let extra: MessageExtra = {};
  if (extraLength > 0) {
    try {
      extra = JSON.parse(value.toString('utf8', offset, offset + extraLength), jsonReviver) as MessageExtra;
    } catch {
      throw new CorruptRecordError(key, 'unreadable header');
    }
  }
  // Copy: the payload must not pin the whole read buffer.
  const message: Message = { topic, payload: Buffer.from(value.subarray(offset + extraLength)), qos: (flags & 3) as QoS, retain: (flags & 4) !== 0 };
  if (extra.properties !== undefined) message.properties = extra.properties;
  if (extra.expiresAt !== undefined) message.expiresAt = extra.expiresAt;
  return message;
}

/** The first format: a JSON header (what retained records written before version 2 hold). */
function decodeMessageV1(key: string, value: Buffer): Message {
  const { header, payload } = decodeWithPayload<MessageHeader>(key, value);
  if (typeof header.topic !== 'string') throw new CorruptRecordError(key, 'message without topic');
  return { ...header, payload };
}

/**
 * Outgoing records are written for most QoS 1/2 deliveries, so they have a binary layout of their
 * own (the JSON header was 17% of the broker's CPU in the persistent QoS 1 benchmark):
 *   [2:u8][flags:u8][state:u8][seq:f64be][packetId:u16be][topicLength:u16be][topic]
 *   [extraLength:u32be][extra JSON: properties, expiresAt, subscriptionIds, shareGroup, routingId, deliveries][payload]
 * flags: bits 0-1 delivery QoS, bit 2 delivery retain, bits 3-4 message QoS, bit 5 message
 * retain, bit 6 has packet id. Version-1 records (JSON header) are still read.
 */
const OUTGOING_RECORD_VERSION = 2;
const OUTGOING_STATES: readonly OutgoingState[] = ['queued', 'sent', 'pubrec'];

interface OutgoingExtra {
  properties?: Message['properties'];
  expiresAt?: number;
  subscriptionIds?: number[];
  shareGroup?: string;
  routingId?: string;
  deliveries?: number;
}

export function encodeOutgoing(record: OutgoingRecord): Buffer {
  const message = record.message;
  let extra: Buffer | undefined;
  if (
    message.properties !== undefined ||
    message.expiresAt !== undefined ||
    record.subscriptionIds !== undefined ||
    record.shareGroup !== undefined ||
    message.routingId !== undefined ||
    record.deliveries !== undefined
  ) {
    const fields: OutgoingExtra = {};
    if (message.routingId !== undefined) fields.routingId = message.routingId;
    if (message.properties !== undefined) fields.properties = message.properties;
    if (message.expiresAt !== undefined) fields.expiresAt = message.expiresAt;
    if (record.subscriptionIds !== undefined) fields.subscriptionIds = record.subscriptionIds;
    if (record.shareGroup !== undefined) fields.shareGroup = record.shareGroup;
    if (record.deliveries !== undefined) fields.deliveries = record.deliveries;
    extra = Buffer.from(JSON.stringify(fields, message.properties?.correlationData !== undefined ? jsonReplacer : undefined));
  }
  const topicLength = Buffer.byteLength(message.topic);
  const extraLength = extra ? extra.length : 0;
  const out = Buffer.allocUnsafe(15 + topicLength + 4 + extraLength + message.payload.length);
  out[0] = OUTGOING_RECORD_VERSION;
  out[1] = record.qos | (record.retain ? 4 : 0) | (message.qos << 3) | (message.retain ? 32 : 0) | (record.packetId !== undefined ? 64 : 0);
  out[2] = OUTGOING_STATES.indexOf(record.state);
  out.writeDoubleBE(record.seq, 3);
  out.writeUInt16BE(record.packetId ?? 0, 11);
  out.writeUInt16BE(topicLength, 13);
  let offset = 15 + out.write(message.topic, 15, topicLength, 'utf8');
  out.writeUInt32BE(extraLength, offset);
  offset += 4;
  if (extra) offset += extra.copy(out, offset);
  message.payload.copy(out, offset);
  return out;
}

export function decodeOutgoing(key: string, value: Buffer): OutgoingRecord {
  if (value.length > 0 && value[0] === RECORD_VERSION) return decodeOutgoingV1(key, value);
  if (value.length < 19) throw new CorruptRecordError(key, 'truncated');
  if (value[0] !== OUTGOING_RECORD_VERSION) throw new CorruptRecordError(key, `unknown record version ${value[0]}`);
  const flags = value[1]!;
  const state = OUTGOING_STATES[value[2]!];
  if (state === undefined) throw new CorruptRecordError(key, `unknown delivery state ${value[2]}`);
  const topicLength = value.readUInt16BE(13);
  let offset = 15 + topicLength;
  if (offset + 4 > value.length) throw new CorruptRecordError(key, 'truncated topic');
  const topic = value.toString('utf8', 15, offset);
  const extraLength = value.readUInt32BE(offset);
  offset += 4;
  if (offset + extraLength > value.length) throw new CorruptRecordError(key, 'truncated header');
  let extra: OutgoingExtra = {};
  if (extraLength > 0) {
    try {
      extra = JSON.parse(value.toString('utf8', offset, offset + extraLength), jsonReviver) as OutgoingExtra;
    } catch {
      throw new CorruptRecordError(key, 'unreadable header');
    }
  }
  // Copy: the payload must not pin the whole read buffer.
  const message: Message = { topic, payload: Buffer.from(value.subarray(offset + extraLength)), qos: ((flags >> 3) & 3) as QoS, retain: (flags & 32) !== 0 };
  if (extra.properties !== undefined) message.properties = extra.properties;
  if (extra.expiresAt !== undefined) message.expiresAt = extra.expiresAt;
  if (extra.routingId !== undefined) message.routingId = extra.routingId;
  const record: OutgoingRecord = { seq: value.readDoubleBE(3), message, qos: (flags & 3) as QoS, retain: (flags & 4) !== 0, state };
  if (flags & 64) record.packetId = value.readUInt16BE(11);
  if (extra.subscriptionIds !== undefined) record.subscriptionIds = extra.subscriptionIds;
  if (extra.shareGroup !== undefined) record.shareGroup = extra.shareGroup;
  if (extra.deliveries !== undefined) record.deliveries = extra.deliveries;
  return record;
}

/** The first format: a JSON header (what records written before version 2 hold). */
function decodeOutgoingV1(key: string, value: Buffer): OutgoingRecord {
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
