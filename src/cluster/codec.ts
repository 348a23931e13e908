/**
 * What travels between nodes: a batch of deliveries (one per message and destination node), and
 * the values of the route and retained views. Deliveries are framed in binary (format 2 below).
 */
import type { Message } from '../store/index.js';

/** One message for the subscribers of the receiving node. */
export interface Delivery {
  message: Message;
  /** The publishing client (No Local). */
  publisherId?: string;
  /** Shared groups (`<group>/<filter>`) this node was picked for; other nodes skip them. */
  groups?: string[];
  /** Nodes that passed the delivery's groups on (no member online there): not picked again. */
  declinedBy?: string[];
  /** Only for this session (a delivery following a session that moved to another node). */
  targetClientId?: string;
  /** How often a targeted delivery was sent on already (bounds a loop between stale views). */
  hops?: number;
  /**
   * Sessions the sending node was claiming (restoring from the receiving node) when it routed
   * this: it could not deliver it to them itself, so a receiver that released one of them sends
   * it on there, whatever its own route view shows (handover.ts, peer-router.ts).
   */
  claiming?: string[];
  /**
   * Sender side only (not encoded): the inbox message's Nats-Msg-Id for a QoS 2 publication's
   * delivery to one node, derived from its routing id, so a second routing of it is dropped by
   * the stream (its duplicate window).
   */
  dedupId?: string;
}

/** The JSON header of the first batch format (still read: an inbox may hold such batches). */
interface Header {
  t: string;
  q: 0 | 1 | 2;
  r?: 1;
  p?: Record<string, unknown>;
  e?: number;
  f?: string;
  g?: string[];
  v?: string[];
  c?: string;
  h?: number;
  i?: string;
  k?: string[];
}

/**
 * Batch format 2: binary framing, no JSON per delivery (the JSON header's stringify and parse
 * were the codec's cost on both nodes). The first byte tells the formats apart: format 1 began
 * with its u32 count, whose first byte is 0 for any batch under max_payload.
 *   u8 2, u32 count, then per delivery: u16 flags, u8 qos, str topic, [str publisher],
 *   [f64 expiresAt], [str routingId], [u32 hops], [list groups], [list declinedBy], [str target],
 *   [list claiming], [u32 + JSON properties], u32 + payload
 * (str: u16 byte length + UTF-8; list: u16 count + str each).
 */
const FORMAT_2 = 2;
const F_RETAIN = 1;
const F_PUBLISHER = 2;
const F_EXPIRES = 4;
const F_ROUTING_ID = 8;
const F_HOPS = 16;
const F_GROUPS = 32;
const F_DECLINED = 64;
const F_TARGET = 128;
const F_PROPERTIES = 256;
const F_CLAIMING = 512;

/** MQTT 5 properties as JSON, correlation data as base64 (rare: most messages carry none). */
function propertiesJson(properties: NonNullable<Message['properties']>): Buffer {
  const { correlationData, ...rest } = properties;
  return Buffer.from(JSON.stringify(correlationData ? { ...rest, correlationData: correlationData.toString('base64') } : rest));
}

function propertiesFrom(value: Record<string, unknown>): NonNullable<Message['properties']> {
  const { correlationData, ...rest } = value as Record<string, unknown> & { correlationData?: string };
  return (correlationData === undefined ? rest : { ...rest, correlationData: Buffer.from(correlationData, 'base64') }) as NonNullable<Message['properties']>;
}

const strBytes = (text: string): number => 2 + Buffer.byteLength(text);
const listBytes = (list: readonly string[]): number => list.reduce((sum, text) => sum + strBytes(text), 2);

export function encodeBatch(deliveries: readonly Delivery[]): Uint8Array {
  let size = 5;
  const properties: Array<Buffer | undefined> = new Array<Buffer | undefined>(deliveries.length);
  for (let i = 0; i < deliveries.length; i++) {
    const d = deliveries[i]!;
    const m = d.message;
    size += 2 + 1 + strBytes(m.topic) + 4 + m.payload.length;
    if (d.publisherId !== undefined) size += strBytes(d.publisherId);
    if (m.expiresAt !== undefined) size += 8;
    if (m.routingId !== undefined) size += strBytes(m.routingId);
    if (d.hops !== undefined) size += 4;
    if (d.groups) size += listBytes(d.groups);
    if (d.declinedBy) size += listBytes(d.declinedBy);
    if (d.targetClientId !== undefined) size += strBytes(d.targetClientId);
    if (d.claiming) size += listBytes(d.claiming);
    if (m.properties) size += 4 + (properties[i] = propertiesJson(m.properties)).length;
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = FORMAT_2;
  out.writeUInt32BE(deliveries.length, 1);
  let at = 5;
  const str = (text: string): void => {
    const length = out.write(text, at + 2, 'utf8');
    out.writeUInt16BE(length, at);
    at += 2 + length;
  };
  const list = (texts: readonly string[]): void => {
    out.writeUInt16BE(texts.length, at);
    at += 2;
    for (const text of texts) str(text);
  };
  for (let i = 0; i < deliveries.length; i++) {
    const d = deliveries[i]!;
    const m = d.message;
    const json = properties[i];
    const flags =
      (m.retain ? F_RETAIN : 0) |
      (d.publisherId !== undefined ? F_PUBLISHER : 0) |
      (m.expiresAt !== undefined ? F_EXPIRES : 0) |
      (m.routingId !== undefined ? F_ROUTING_ID : 0) |
      (d.hops !== undefined ? F_HOPS : 0) |
      (d.groups ? F_GROUPS : 0) |
      (d.declinedBy ? F_DECLINED : 0) |
      (d.targetClientId !== undefined ? F_TARGET : 0) |
      (d.claiming ? F_CLAIMING : 0) |
      (json ? F_PROPERTIES : 0);
    out.writeUInt16BE(flags, at);
    out[at + 2] = m.qos;
    at += 3;
    str(m.topic);
    if (d.publisherId !== undefined) str(d.publisherId);
    if (m.expiresAt !== undefined) at = out.writeDoubleBE(m.expiresAt, at);
    if (m.routingId !== undefined) str(m.routingId);
    if (d.hops !== undefined) at = out.writeUInt32BE(d.hops, at);
    if (d.groups) list(d.groups);
    if (d.declinedBy) list(d.declinedBy);
    if (d.targetClientId !== undefined) str(d.targetClientId);
    if (d.claiming) list(d.claiming);
    if (json) {
      at = out.writeUInt32BE(json.length, at);
      at += json.copy(out, at);
    }
    at = out.writeUInt32BE(m.payload.length, at);
    at += m.payload.copy(out, at);
  }
  return out;
}

/** Bytes a delivery adds to a batch, roughly (to keep batches under the engine's max_payload). */
export function approximateSize(d: Delivery): number {
  return 64 + d.message.topic.length * 3 + d.message.payload.length + (d.message.properties ? 256 : 0);
}

export class BatchDecodeError extends Error {
  constructor(why: string) {
    super(`undecodable delivery batch: ${why}`);
    this.name = 'BatchDecodeError';
  }
}

export function decodeBatch(data: Uint8Array): Delivery[] {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buffer.length < 4) throw new BatchDecodeError('too short');
  return buffer[0] === FORMAT_2 ? decodeFormat2(buffer) : decodeFormat1(buffer);
}

function decodeFormat2(buffer: Buffer): Delivery[] {
  if (buffer.length < 5) throw new BatchDecodeError('too short');
  const count = buffer.readUInt32BE(1);
  let at = 5;
  const need = (bytes: number): void => {
    if (at + bytes > buffer.length) throw new BatchDecodeError('truncated');
  };
  const str = (): string => {
    need(2);
    const length = buffer.readUInt16BE(at);
    at += 2;
    need(length);
    const text = buffer.toString('utf8', at, at + length);
    at += length;
    return text;
  };
  const list = (): string[] => {
    need(2);
    const n = buffer.readUInt16BE(at);
    at += 2;
    const texts: string[] = [];
    for (let i = 0; i < n; i++) texts.push(str());
    return texts;
  };
  const out: Delivery[] = [];
  for (let i = 0; i < count; i++) {
    need(3);
    const flags = buffer.readUInt16BE(at);
    const qos = buffer[at + 2]!;
    if (qos > 2) throw new BatchDecodeError(`QoS ${qos}`);
    at += 3;
    const message: Message = { topic: str(), payload: EMPTY, qos: qos as Message['qos'], retain: (flags & F_RETAIN) !== 0 };
    const delivery: Delivery = { message };
    if (flags & F_PUBLISHER) delivery.publisherId = str();
    if (flags & F_EXPIRES) {
      need(8);
      message.expiresAt = buffer.readDoubleBE(at);
      at += 8;
    }
    if (flags & F_ROUTING_ID) message.routingId = str();
    if (flags & F_HOPS) {
      need(4);
      delivery.hops = buffer.readUInt32BE(at);
      at += 4;
    }
    if (flags & F_GROUPS) delivery.groups = list();
    if (flags & F_DECLINED) delivery.declinedBy = list();
    if (flags & F_TARGET) delivery.targetClientId = str();
    if (flags & F_CLAIMING) delivery.claiming = list();
    if (flags & F_PROPERTIES) {
      need(4);
      const length = buffer.readUInt32BE(at);
      at += 4;
      need(length);
      try {
        message.properties = propertiesFrom(JSON.parse(buffer.toString('utf8', at, at + length)) as Record<string, unknown>);
      } catch {
        throw new BatchDecodeError('unreadable properties');
      }
      at += length;
    }
    need(4);
    const payloadLength = buffer.readUInt32BE(at);
    at += 4;
    need(payloadLength);
    // A copy: the message outlives the engine's receive buffer (queues, retained).
    message.payload = Buffer.from(buffer.subarray(at, at + payloadLength));
    at += payloadLength;
    out.push(delivery);
  }
  return out;
}

const EMPTY = Buffer.alloc(0);

/** The first format: u32 count, then per delivery u32 header length, u32 payload length, JSON header, payload. */
function decodeFormat1(buffer: Buffer): Delivery[] {
  const count = buffer.readUInt32BE(0);
  let offset = 4;
  const out: Delivery[] = [];
  for (let i = 0; i < count; i++) {
    if (offset + 8 > buffer.length) throw new BatchDecodeError('truncated');
    const jsonLength = buffer.readUInt32BE(offset);
    const payloadLength = buffer.readUInt32BE(offset + 4);
    offset += 8;
    if (offset + jsonLength + payloadLength > buffer.length) throw new BatchDecodeError('truncated');
    let header: Header;
    try {
      header = JSON.parse(buffer.toString('utf8', offset, offset + jsonLength)) as Header;
    } catch {
      throw new BatchDecodeError('unreadable header');
    }
    offset += jsonLength;
    const payload = Buffer.from(buffer.subarray(offset, offset + payloadLength));
    offset += payloadLength;
    const message: Message = { topic: header.t, payload, qos: header.q, retain: header.r === 1 };
    if (header.p) message.properties = propertiesFrom(header.p);
    if (header.e !== undefined) message.expiresAt = header.e;
    if (header.i !== undefined) message.routingId = header.i;
    const delivery: Delivery = { message };
    if (header.f !== undefined) delivery.publisherId = header.f;
    if (header.g) delivery.groups = header.g;
    if (header.v) delivery.declinedBy = header.v;
    if (header.c !== undefined) delivery.targetClientId = header.c;
    if (header.h !== undefined) delivery.hops = header.h;
    if (header.k) delivery.claiming = header.k;
    out.push(delivery);
  }
  return out;
}

/** A route entry: this node holds subscribers of `filter` (a `$share/…` filter for a group). */
export interface RouteValue {
  filter: string;
}

export function encodeJson(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value));
}

export function decodeJson<T>(data: Uint8Array): T {
  return JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as T;
}
