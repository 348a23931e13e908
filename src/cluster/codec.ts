/**
 * What travels between nodes: a batch of deliveries (one per message and destination node), and
 * the values of the route and retained views. Payloads go as raw bytes after a small JSON header.
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

export function encodeBatch(deliveries: readonly Delivery[]): Uint8Array {
  const parts: Buffer[] = [];
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(deliveries.length);
  parts.push(count);
  for (const d of deliveries) {
    const m = d.message;
    const header: Header = { t: m.topic, q: m.qos };
    if (m.retain) header.r = 1;
    if (m.properties) {
      const { correlationData, ...rest } = m.properties;
      header.p = correlationData ? { ...rest, correlationData: correlationData.toString('base64') } : rest;
    }
    if (m.expiresAt !== undefined) header.e = m.expiresAt;
    if (m.routingId !== undefined) header.i = m.routingId;
    if (d.publisherId !== undefined) header.f = d.publisherId;
    if (d.groups) header.g = d.groups;
    if (d.declinedBy) header.v = d.declinedBy;
    if (d.targetClientId !== undefined) header.c = d.targetClientId;
    if (d.hops !== undefined) header.h = d.hops;
    if (d.claiming) header.k = d.claiming;
    const json = Buffer.from(JSON.stringify(header));
    const lengths = Buffer.allocUnsafe(8);
    lengths.writeUInt32BE(json.length, 0);
    lengths.writeUInt32BE(m.payload.length, 4);
    parts.push(lengths, json, m.payload);
  }
  return Buffer.concat(parts);
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
  const count = buffer.readUInt32BE(0);
  let offset = 4;
  const out: Delivery[] = [];
  for (let i = 0; i < count; i++) {
    if (offset + 8 > buffer.length) throw new BatchDecodeError('truncated');
    const jsonLength = buffer.readUInt32BE(offset);
    const payloadLength = buffer.readUInt32BE(offset + 4);
    offset += 8;
    if (offset + jsonLength + payloadLength > buffer.length) throw new BatchDecodeError('truncated');
    const header = JSON.parse(buffer.toString('utf8', offset, offset + jsonLength)) as Header;
    offset += jsonLength;
    // A copy: the message outlives the engine's receive buffer (queues, retained).
    const payload = Buffer.from(buffer.subarray(offset, offset + payloadLength));
    offset += payloadLength;
    const message: Message = { topic: header.t, payload, qos: header.q, retain: header.r === 1 };
    if (header.p) {
      const { correlationData, ...rest } = header.p as Record<string, unknown> & { correlationData?: string };
      message.properties = correlationData === undefined ? rest : { ...rest, correlationData: Buffer.from(correlationData, 'base64') };
    }
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
