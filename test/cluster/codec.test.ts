/** The inbox batch framing between nodes (src/cluster/codec.ts). */
import { describe, expect, it } from 'vitest';
import { BatchDecodeError, decodeBatch, encodeBatch, type Delivery } from '../../src/cluster/codec.js';

const full: Delivery = {
  message: {
    topic: 'a/b.c/ d//ü',
    payload: Buffer.from([0, 1, 2, 255]),
    qos: 2,
    retain: true,
    expiresAt: 1_764_000_000_123,
    routingId: 'n1:abc:42',
    properties: { contentType: 'text/plain', userProperties: { k: 'v' }, correlationData: Buffer.from([9, 8, 7]) },
  },
  publisherId: 'pub-ü',
  groups: ['g1/x/#', 'g2/+'],
  declinedBy: ['n2'],
  targetClientId: 'sub 1',
  hops: 3,
  claiming: ['sub 1', 'other'],
};
const plain: Delivery = { message: { topic: 't', payload: Buffer.alloc(0), qos: 1, retain: false } };

/** The first format, as nodes of the previous release wrote it (an inbox may still hold such batches). */
function encodeFormat1(deliveries: Delivery[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(4)];
  parts[0]!.writeUInt32BE(deliveries.length);
  for (const d of deliveries) {
    const json = Buffer.from(JSON.stringify({ t: d.message.topic, q: d.message.qos, ...(d.publisherId ? { f: d.publisherId } : {}), ...(d.hops !== undefined ? { h: d.hops } : {}) }));
    const lengths = Buffer.alloc(8);
    lengths.writeUInt32BE(json.length, 0);
    lengths.writeUInt32BE(d.message.payload.length, 4);
    parts.push(lengths, json, d.message.payload);
  }
  return Buffer.concat(parts);
}

describe('delivery batches between nodes', () => {
  it('round-trips every field of a delivery, and one with none', () => {
    const decoded = decodeBatch(encodeBatch([full, plain, full]));
    expect(decoded).toEqual([full, plain, full]);
    expect(Buffer.isBuffer(decoded[0]!.message.payload)).toBe(true);
  });

  it('leaves out what is sender-side only (the dedup id)', () => {
    const [decoded] = decodeBatch(encodeBatch([{ ...plain, dedupId: 'r.n2' }]));
    expect(decoded).toEqual(plain);
  });

  it('still reads the first format', () => {
    const old: Delivery = { message: { topic: 'x/y', payload: Buffer.from('hi'), qos: 1, retain: false }, publisherId: 'p', hops: 2 };
    expect(decodeBatch(encodeFormat1([old, plain]))).toEqual([old, plain]);
  });

  it('refuses a truncated batch with a typed error', () => {
    const bytes = encodeBatch([full]);
    for (const cut of [3, 10, bytes.length - 1]) expect(() => decodeBatch(bytes.subarray(0, cut))).toThrow(BatchDecodeError);
  });
});
