/** Framing of the byte stream, and the hand decoding of plain PUBLISH and PUBACK, against mqtt-packet. */
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { decodePlainAck, decodePlainPublish, FrameReader, type FrameError } from '../../src/protocol/index.js';

function collect(maxPacketSize = Infinity) {
  const frames: Buffer[] = [];
  const errors: FrameError[] = [];
  const reader = new FrameReader(maxPacketSize, { onFrame: (f) => frames.push(Buffer.from(f)), onFrameError: (e) => errors.push(e) });
  return { reader, frames, errors };
}

const publishArb = fc.record({
  topic: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((t) => !/[+#\u0000]/.test(t)),
  size: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 16_000, max: 70_000 })),
  qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
  retain: fc.boolean(),
  dup: fc.boolean(),
  messageId: fc.integer({ min: 1, max: 65_535 }),
});

describe('FrameReader', () => {
  it('yields exactly the packets written, however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(fc.array(publishArb, { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 30 }), (publishes, cuts) => {
        const packets = publishes.map((p) =>
          mqttPacket.generate({ cmd: 'publish', topic: p.topic, payload: Buffer.alloc(p.size, 7), qos: p.qos, retain: p.retain, dup: p.qos > 0 && p.dup, ...(p.qos > 0 ? { messageId: p.messageId } : {}) }),
        );
        packets.push(Buffer.from([0x40, 0x02, 0x12, 0x34]), Buffer.from([0xc0, 0x00]));
        const stream = Buffer.concat(packets);
        const { reader, frames, errors } = collect();
        let offset = 0;
        for (let i = 0; offset < stream.length; i++) {
          const length = cuts[i % cuts.length]!;
          reader.push(stream.subarray(offset, offset + length));
          offset += length;
        }
        expect(errors).toEqual([]);
        expect(frames.map((f) => f.toString('hex'))).toEqual(packets.map((p) => p.toString('hex')));
      }),
      { numRuns: 150 },
    );
  });

  it('reports a packet larger than the maximum (whole packet, bytes) from its header, before its body arrives', () => {
    const { reader, frames, errors } = collect(1024);
    const big = mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(2000), qos: 0, retain: false, dup: false });
    reader.push(big.subarray(0, 10));
    expect(frames).toEqual([]);
    expect(errors).toEqual([{ kind: 'too-large', size: big.length }]);
  });

  it('a Remaining Length longer than 4 bytes (spec 2.2.3) is malformed, also when cut across chunks', () => {
    const { reader, errors } = collect();
    reader.push(Buffer.from([0x30, 0xff, 0xff]));
    expect(errors).toEqual([]);
    reader.push(Buffer.from([0xff, 0xff, 0x01]));
    expect(errors).toEqual([{ kind: 'malformed-length' }]);
  });
});

describe('decodePlainPublish', () => {
  it('decodes a PUBLISH without properties (3.1.1 and 5.0) as mqtt-packet does', () => {
    fc.assert(
      fc.property(publishArb, fc.constantFrom(4 as const, 5 as const), (p, version) => {
        const bytes = mqttPacket.generate(
          { cmd: 'publish', topic: p.topic, payload: Buffer.alloc(p.size, 9), qos: p.qos, retain: p.retain, dup: p.qos > 0 && p.dup, ...(p.qos > 0 ? { messageId: p.messageId } : {}) },
          { protocolVersion: version },
        );
        const parser = mqttPacket.parser({ protocolVersion: version });
        let theirs: mqttPacket.IPublishPacket | undefined;
        parser.on('packet', (packet: mqttPacket.Packet) => (theirs = packet as mqttPacket.IPublishPacket));
        parser.parse(bytes);
        const ours = decodePlainPublish(bytes, version);
        // A topic holding U+FFFD (or a lone surrogate, which the encoder writes as U+FFFD) cannot be
        // told from ill-formed UTF-8 on the fast path, so it is left to the full check.
        if (theirs!.topic.includes('\uFFFD')) {
          expect(ours).toBeUndefined();
          return;
        }
        expect(ours).toBeDefined();
        expect({ ...ours, payload: ours!.payload.toString('hex') }).toEqual({
          cmd: 'publish',
          topic: theirs!.topic,
          payload: (theirs!.payload as Buffer).toString('hex'),
          qos: theirs!.qos,
          retain: theirs!.retain,
          dup: theirs!.dup,
          length: theirs!.length,
          ...(p.qos > 0 ? { messageId: theirs!.messageId } : {}),
        });
      }),
      { numRuns: 200 },
    );
  });

  it('leaves the unusual to mqtt-packet: QoS 3, a topic running past the packet, packet id 0, MQTT 5 properties', () => {
    expect(decodePlainPublish(Buffer.from([0x36, 0x05, 0x00, 0x01, 0x74, 0x00, 0x01]), 4)).toBeUndefined();
    expect(decodePlainPublish(Buffer.from([0x30, 0x03, 0x00, 0x09, 0x74]), 4)).toBeUndefined();
    expect(decodePlainPublish(Buffer.from([0x32, 0x05, 0x00, 0x01, 0x74, 0x00, 0x00]), 4)).toBeUndefined();
    const withAlias = mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 1, messageId: 5, retain: false, dup: false, properties: { topicAlias: 3 } }, { protocolVersion: 5 });
    expect(decodePlainPublish(withAlias, 5)).toBeUndefined();
  });
});

describe('decodePlainAck', () => {
  it('decodes the 4-byte PUBACK/PUBREC/PUBREL/PUBCOMP as mqtt-packet does, in every version', () => {
    for (const version of [3, 4, 5] as const) {
      for (const cmd of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
        const bytes = mqttPacket.generate({ cmd, messageId: 0xbeef }, { protocolVersion: version === 5 ? 4 : version });
        expect(decodePlainAck(bytes)).toMatchObject({ cmd, messageId: 0xbeef });
        expect(decodePlainAck(Buffer.from([bytes[0]!, 0x02, 0x00, 0x00]))).toBeUndefined();
      }
    }
  });

  it('[3.1.1 MQTT-3.6.1-1] [5.0 MQTT-3.6.1-1] leaves a PUBREL with wrong flags, and longer acks, to mqtt-packet', () => {
    expect(decodePlainAck(Buffer.from([0x60, 0x02, 0x00, 0x01]))).toBeUndefined();
    expect(decodePlainAck(Buffer.from([0x40, 0x03, 0x00, 0x01, 0x80]))).toBeUndefined();
    expect(decodePlainAck(Buffer.from([0x30, 0x02, 0x00, 0x01]))).toBeUndefined();
  });
});

describe('FrameReader memory', () => {
  it('holds only the bytes received of a packet announced as huge, not its announced size', () => {
    const { reader, frames, errors } = collect(Infinity);
    // PUBLISH announcing 200,000,000 bytes, then 100 KiB of it.
    reader.push(Buffer.from([0x30, 0x80, 0x84, 0xaf, 0x5f, 0x00, 0x01, 0x61]));
    for (let i = 0; i < 10; i++) reader.push(Buffer.alloc(10 * 1024));
    expect(frames).toEqual([]);
    expect(errors).toEqual([]);
    expect(reader.bufferedBytes).toBe(8 + 10 * 10 * 1024);
  });

  it('a packet grown over many small chunks comes out whole and exact', () => {
    const { reader, frames } = collect(Infinity);
    const packet = mqttPacket.generate({ cmd: 'publish', topic: 'grow', payload: Buffer.from(Array.from({ length: 100_000 }, (_, i) => i & 0xff)), qos: 0, retain: false, dup: false });
    for (let offset = 0; offset < packet.length; offset += 777) reader.push(packet.subarray(offset, offset + 777));
    expect(frames.map((f) => f.toString('hex'))).toEqual([packet.toString('hex')]);
  });

  it('a lowered or raised maximum applies to the next packet header', () => {
    const { reader, frames, errors } = collect(100);
    reader.push(Buffer.from([0xc0, 0x00]));
    reader.setMaxPacketSize(1000);
    reader.push(mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(500), qos: 0, retain: false, dup: false }));
    expect(frames).toHaveLength(2);
    expect(errors).toEqual([]);
  });
});
