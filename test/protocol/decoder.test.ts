/**
 * The decoder door (src/protocol/decoder.ts): the hand fast path against mqtt-packet, frame by
 * frame. For random whole frames — valid packets of every kind a client sends, then mutated and
 * truncated ones, in MQTT 3.1, 3.1.1 and 5.0 — the hand decoder must return nothing, or what
 * mqtt-packet returns for that frame.
 */
import fc from 'fast-check';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { decodeFrequent, MqttError, PacketDecoder, ReasonCode, type ProtocolVersion } from '../../src/protocol/index.js';
import { vbi } from '../helpers/raw-frames.js';

/** mqtt-packet's answer for one whole frame: its packet, or undefined (an error, or lengths that disagree with the frame). */
function reference(frame: Buffer, version: ProtocolVersion): Packet | undefined {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const packets: Packet[] = [];
  let failed = false;
  parser.on('packet', (packet: Packet) => packets.push(packet));
  parser.on('error', () => (failed = true));
  let leftover = 0;
  try {
    leftover = parser.parse(frame);
  } catch {
    return undefined;
  }
  return failed || leftover > 0 || packets.length !== 1 ? undefined : packets[0];
}

const ACKS = new Set(['puback', 'pubrec', 'pubrel', 'pubcomp']);

/**
 * What a packet means to the broker: mqtt-packet also fills an ack's unused header fields
 * (retain, qos, dup false/0; topic, payload null) and a 5.0 ack's reason code 0, which the hand
 * decoder leaves out (the handlers read an absent reason code as Success).
 */
function meaning(packet: Packet): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(packet)) {
    if (value === undefined || value === null) continue;
    if (ACKS.has(packet.cmd) && (key === 'retain' || key === 'qos' || key === 'dup' || (key === 'reasonCode' && value === 0))) continue;
    out[key] = Buffer.isBuffer(value) ? value.toString('hex') : value;
  }
  return out;
}

const version = fc.constantFrom<ProtocolVersion>(3, 4, 5);
const topic = fc.oneof(fc.string({ unit: 'grapheme', minLength: 0, maxLength: 12 }), fc.constantFrom('a/b', 't', '\u0000x', 'x\uFFFD'));
const packetId = fc.oneof(fc.integer({ min: 0, max: 65_535 }), fc.constant(0), fc.constant(1));
const publishProperties = fc.option(
  fc.record(
    {
      topicAlias: fc.integer({ min: 1, max: 10 }),
      payloadFormatIndicator: fc.boolean(),
      messageExpiryInterval: fc.integer({ min: 0, max: 100 }),
      contentType: fc.string({ maxLength: 5 }),
      userProperties: fc.dictionary(fc.string({ minLength: 1, maxLength: 3 }), fc.string({ maxLength: 3 }), { maxKeys: 2 }),
    },
    { requiredKeys: [] },
  ),
  { nil: undefined },
);

/** Packets of every kind a client sends, as objects mqtt-packet can generate. */
const packet: fc.Arbitrary<Packet> = fc.oneof(
  fc
    .record({ topic, payload: fc.uint8Array({ maxLength: 20 }), qos: fc.constantFrom(0, 1, 2), retain: fc.boolean(), dup: fc.boolean(), messageId: packetId, properties: publishProperties })
    .map(({ payload, properties, messageId, qos, ...rest }) => ({ cmd: 'publish', ...rest, qos, payload: Buffer.from(payload), ...(qos > 0 ? { messageId } : {}), ...(properties ? { properties } : {}) }) as Packet),
  fc
    .record({ cmd: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp'), messageId: packetId, reasonCode: fc.option(fc.constantFrom(0, 0x10, 0x80, 0x92), { nil: undefined }), reason: fc.option(fc.string({ maxLength: 4 }), { nil: undefined }) })
    .map(({ reason, reasonCode, ...rest }) => ({ ...rest, ...(reasonCode !== undefined ? { reasonCode } : {}), ...(reason !== undefined ? { properties: { reasonString: reason } } : {}) }) as Packet),
  fc.constant({ cmd: 'pingreq' } as Packet),
  fc.record({ messageId: fc.integer({ min: 1, max: 65_535 }), topic }).map(({ messageId, topic }) => ({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos: 1 }] }) as Packet),
  fc.record({ messageId: fc.integer({ min: 1, max: 65_535 }), topic }).map(({ messageId, topic }) => ({ cmd: 'unsubscribe', messageId, unsubscriptions: [topic] }) as Packet),
  fc.constant({ cmd: 'disconnect' } as Packet),
);

/** A valid frame, or undefined when mqtt-packet refuses to generate the packet in that version. */
function generate(p: Packet, v: ProtocolVersion): Buffer | undefined {
  try {
    return mqttPacket.generate(p, { protocolVersion: v });
  } catch {
    return undefined;
  }
}

/** A whole frame again after `body` changed: the Remaining Length is rewritten to match, as the framer guarantees. */
function reframe(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...vbi(body.length)]), body]);
}

function bodyOf(frame: Buffer): Buffer {
  let offset = 1;
  while (frame[offset]! & 0x80) offset++;
  return frame.subarray(offset + 1);
}

/** Valid frames, then the same with a byte changed, the first byte's flags or type changed, cut short, or with bytes added. */
const mutation = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('first' as const), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
);

function mutate(frame: Buffer, m: { kind: string; at?: number; value?: number; keep?: number; extra?: Uint8Array }): Buffer {
  const first = frame[0]!;
  const body = Buffer.from(bodyOf(frame));
  switch (m.kind) {
    case 'byte':
      if (body.length > 0) body[m.at! % body.length] = m.value!;
      return reframe(first, body);
    case 'first':
      return reframe(m.value!, body);
    case 'truncate':
      return reframe(first, body.subarray(0, body.length === 0 ? 0 : m.keep! % body.length));
    case 'append':
      return reframe(first, Buffer.concat([body, Buffer.from(m.extra!)]));
    default:
      return frame;
  }
}

describe('decodeFrequent (the hand decoder) against mqtt-packet', () => {
  it('returns nothing, or what mqtt-packet returns: valid, mutated and truncated frames in 3.1, 3.1.1 and 5.0', () => {
    let decodedByHand = 0;
    fc.assert(
      fc.property(packet, version, mutation, (p, v, m) => {
        const valid = generate(p, v);
        if (!valid) return;
        const frame = mutate(valid, m);
        const ours = decodeFrequent(frame, v);
        if (ours === undefined) return;
        decodedByHand++;
        const theirs = reference(frame, v);
        expect(theirs, `mqtt-packet refused ${frame.toString('hex')} (v${v}) that the hand decoder took`).toBeDefined();
        expect(meaning(ours)).toEqual(meaning(theirs!));
      }),
      { numRuns: 3000 },
    );
    // Guards against a generator that never reaches the fast path.
    expect(decodedByHand).toBeGreaterThan(100);
  });
});

describe('PacketDecoder', () => {
  const decoder = new PacketDecoder();

  it('takes the fast path only when allowed, and the answer is the same either way for a plain PUBLISH', () => {
    const frame = mqttPacket.generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 1, messageId: 7, retain: false, dup: false }, { protocolVersion: 4 });
    const fast = decoder.decode(frame, 4, true);
    const full = decoder.decode(frame, 4, false);
    expect(fast).not.toBeInstanceOf(MqttError);
    expect(meaning(fast as Packet)).toEqual(meaning(full as Packet));
  });

  it('[3.1.1 MQTT-3.3.1-4] a PUBLISH with QoS 3 comes out as a reason-coded error (Malformed Packet)', () => {
    const result = decoder.decode(Buffer.from([0x36, 0x05, 0x00, 0x01, 0x74, 0x00, 0x01]), 4, true);
    expect(result).toBeInstanceOf(MqttError);
    expect((result as MqttError).reasonCode).toBe(ReasonCode.MalformedPacket);
  });

  it('[5.0 MQTT-3.1.2-2] a CONNECT of an unknown protocol level comes out as Unsupported Protocol Version', () => {
    const connect = Buffer.from([0x10, 0x0c, 0x00, 0x04, ...Buffer.from('MQTT'), 0x06, 0x02, 0x00, 0x00, 0x00, 0x00]);
    expect(decoder.connectVersion(connect)).toBeUndefined();
    const result = decoder.decode(connect, 4, false);
    expect(result).toBeInstanceOf(MqttError);
    expect((result as MqttError).reasonCode).toBe(ReasonCode.UnsupportedProtocolVersion);
  });

  it('one decoder serves frame after frame, also after a failure (nothing is kept between frames)', () => {
    const bad = Buffer.from([0x82, 0x02, 0x00, 0x01]);
    const good = mqttPacket.generate({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'a', qos: 0 }] }, { protocolVersion: 4 });
    expect(decoder.decode(bad, 4, true)).toBeInstanceOf(MqttError);
    expect(decoder.decode(good, 4, true)).toMatchObject({ cmd: 'subscribe', messageId: 3 });
  });
});
