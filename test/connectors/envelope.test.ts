/** The HTTP sink's hand-built envelope JSON is exactly JSON.stringify of the envelope object. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { envelopeJsonOf, envelopeOf, type ConnectorMessage } from '../../src/connectors/index.js';
import type { OutgoingRecord } from '../../src/store/index.js';

const userProperties = fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 })), { maxKeys: 4 });

const messages = fc.record({
  id: fc.string(),
  topic: fc.string({ unit: 'grapheme', minLength: 1 }),
  qos: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
  retain: fc.boolean(),
  timestamp: fc.integer({ min: 0, max: 4_102_444_800_000 }),
  payload: fc.oneof(fc.string({ unit: 'grapheme' }).map((s) => Buffer.from(s)), fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a))),
  userProperties: fc.option(userProperties, { nil: undefined }),
  contentType: fc.option(fc.string(), { nil: undefined }),
  isRedelivered: fc.boolean(),
});

describe('envelopeJsonOf', () => {
  it('equals JSON.stringify(envelopeOf(m)) for any message (text and binary payloads, properties or none)', () => {
    fc.assert(
      fc.property(messages, (g) => {
        const properties = g.userProperties === undefined && g.contentType === undefined ? undefined : { ...(g.userProperties ? { userProperties: g.userProperties } : {}), ...(g.contentType !== undefined ? { contentType: g.contentType } : {}) };
        const message = { topic: g.topic, payload: g.payload, qos: g.qos, retain: g.retain, ...(properties ? { properties } : {}) };
        const m: ConnectorMessage = { id: g.id, message, retain: g.retain, timestamp: g.timestamp, isRedelivered: g.isRedelivered, attempts: 0, record: {} as OutgoingRecord, lane: undefined };
        expect(envelopeJsonOf(m)).toBe(JSON.stringify(envelopeOf(m)));
      }),
      { numRuns: 500 },
    );
  });

  it('a payload that is not UTF-8 travels as base64 and says so', () => {
    const m: ConnectorMessage = { id: 'c:1', message: { topic: 't', payload: Buffer.from([0xff, 0x00]), qos: 1, retain: false }, retain: false, timestamp: 0, isRedelivered: false, attempts: 0, record: {} as OutgoingRecord, lane: undefined };
    expect(JSON.parse(envelopeJsonOf(m))).toEqual({ id: 'c:1', topic: 't', qos: 1, retain: false, timestamp: '1970-01-01T00:00:00.000Z', payload: '/wA=', userProperties: {}, payloadEncoding: 'base64' });
  });
});
