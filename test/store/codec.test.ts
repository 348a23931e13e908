/** The on-disk outgoing record: round trips every field, still reads the first format, names corruption. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CorruptRecordError } from '../../src/store/index.js';
import { decodeOutgoing, encodeOutgoing } from '../../src/store/codec.js';
import type { MessageProperties, OutgoingRecord } from '../../src/store/index.js';

const qosArb = fc.constantFrom(0 as const, 1 as const, 2 as const);
const propertiesArb: fc.Arbitrary<MessageProperties> = fc.record(
  {
    payloadFormatIndicator: fc.boolean(),
    contentType: fc.string(),
    responseTopic: fc.string({ minLength: 1 }),
    correlationData: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    userProperties: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.oneof(fc.string(), fc.array(fc.string(), { minLength: 1, maxLength: 3 }))),
  },
  { requiredKeys: [] },
);
const recordArb: fc.Arbitrary<OutgoingRecord> = fc
  .record({
    seq: fc.integer({ min: 1, max: 2 ** 40 }),
    topic: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }),
    payload: fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
    messageQos: qosArb,
    messageRetain: fc.boolean(),
    qos: qosArb,
    retain: fc.boolean(),
    state: fc.constantFrom('queued' as const, 'sent' as const, 'pubrec' as const),
    packetId: fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined }),
    properties: fc.option(propertiesArb, { nil: undefined }),
    expiresAt: fc.option(fc.integer({ min: 0, max: 2 ** 45 }), { nil: undefined }),
    subscriptionIds: fc.option(fc.array(fc.integer({ min: 1, max: 268_435_455 }), { minLength: 1, maxLength: 3 }), { nil: undefined }),
    shareGroup: fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
  })
  .map((r) => {
    const record: OutgoingRecord = {
      seq: r.seq,
      message: { topic: r.topic, payload: r.payload, qos: r.messageQos, retain: r.messageRetain },
      qos: r.qos,
      retain: r.retain,
      state: r.state,
    };
    if (r.packetId !== undefined) record.packetId = r.packetId;
    if (r.properties !== undefined) record.message.properties = r.properties;
    if (r.expiresAt !== undefined) record.message.expiresAt = r.expiresAt;
    if (r.subscriptionIds !== undefined) record.subscriptionIds = r.subscriptionIds;
    if (r.shareGroup !== undefined) record.shareGroup = r.shareGroup;
    return record;
  });

describe('outgoing record codec', () => {
  it('decodes exactly what it encoded, every field', () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        expect(decodeOutgoing('k', encodeOutgoing(record))).toEqual(record);
      }),
      { numRuns: 300 },
    );
  });

  it('still reads records in the first format (JSON header)', () => {
    const header = Buffer.from(JSON.stringify({ seq: 7, qos: 1, retain: false, state: 'sent', packetId: 9, message: { topic: 'a/b', qos: 1, retain: true } }));
    const v1 = Buffer.concat([Buffer.from([1]), Buffer.alloc(4), header, Buffer.from('payload')]);
    v1.writeUInt32BE(header.length, 1);
    expect(decodeOutgoing('k', v1)).toEqual({
      seq: 7,
      qos: 1,
      retain: false,
      state: 'sent',
      packetId: 9,
      message: { topic: 'a/b', qos: 1, retain: true, payload: Buffer.from('payload') },
    });
  });

  it('names a truncated or unknown record instead of returning garbage', () => {
    const good = encodeOutgoing({ seq: 1, message: { topic: 't', payload: Buffer.from('x'), qos: 1, retain: false }, qos: 1, retain: false, state: 'queued' });
    expect(() => decodeOutgoing('k', good.subarray(0, 10))).toThrow(CorruptRecordError);
    const badVersion = Buffer.from(good);
    badVersion[0] = 9;
    expect(() => decodeOutgoing('k', badVersion)).toThrow(/unknown record version 9/);
    const badState = Buffer.from(good);
    badState[2] = 7;
    expect(() => decodeOutgoing('k', badState)).toThrow(/unknown delivery state/);
  });
});
