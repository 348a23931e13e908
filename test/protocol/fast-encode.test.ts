/** The hand-encoded hot-path packets are byte-for-byte what mqtt-packet generates and parses. */
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { AckType, encodeAck, encodeConnackV4, encodePublish } from '../../src/protocol/index.js';

const versions = fc.constantFrom(3 as const, 4 as const, 5 as const);

describe('encodePublish', () => {
  it('matches mqtt-packet for any topic, payload size, QoS, flags and version', () => {
    fc.assert(
      fc.property(
        versions,
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((t) => !t.includes('+') && !t.includes('#') && !t.includes('\u0000')),
        // Sizes around the Remaining Length boundaries (127, 16383) and beyond.
        fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 16_300, max: 16_500 }), fc.integer({ min: 2_097_000, max: 2_097_200 })),
        fc.constantFrom(0 as const, 1 as const, 2 as const),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 65_535 }),
        (version, topic, size, qos, retain, dup, packetId) => {
          const payload = Buffer.alloc(size, 0x5a);
          const isDup = qos > 0 && dup;
          const ours = encodePublish(version, topic, Buffer.byteLength(topic), payload, qos, retain, isDup, packetId);
          const theirs = mqttPacket.generate(
            { cmd: 'publish', topic, payload, qos, retain, dup: isDup, ...(qos > 0 ? { messageId: packetId } : {}), ...(version === 5 ? { properties: {} } : {}) },
            { protocolVersion: version },
          );
          expect(ours.equals(theirs)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('encodeAck', () => {
  it('[3.1.1 MQTT-3.6.1-1] [5.0 MQTT-3.6.1-1] is the 4-byte form every version parses as reason Success (PUBREL with flags 0010)', () => {
    for (const version of [3, 4, 5] as const) {
      for (const cmd of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
        const bytes = encodeAck(AckType[cmd], 0xbeef);
        const parser = mqttPacket.parser({ protocolVersion: version });
        const packets: mqttPacket.Packet[] = [];
        parser.on('packet', (p: mqttPacket.Packet) => packets.push(p));
        parser.on('error', (e: Error) => {
          throw e;
        });
        parser.parse(bytes);
        expect(packets).toHaveLength(1);
        expect(packets[0]).toMatchObject({ cmd, messageId: 0xbeef });
        if (version === 5) expect((packets[0] as { reasonCode?: number }).reasonCode ?? 0).toBe(0);
        if (version !== 5) expect(bytes.equals(mqttPacket.generate({ cmd, messageId: 0xbeef }, { protocolVersion: version }))).toBe(true);
      }
    }
  });
});

describe('encodeConnackV4', () => {
  it('matches mqtt-packet for every return code and Session Present flag, in 3.1 and 3.1.1', () => {
    for (const version of [3, 4] as const) {
      for (const returnCode of [0, 1, 2, 3, 4, 5]) {
        for (const sessionPresent of [false, true]) {
          const theirs = mqttPacket.generate({ cmd: 'connack', returnCode, sessionPresent }, { protocolVersion: version });
          expect(encodeConnackV4(sessionPresent, returnCode).equals(theirs)).toBe(true);
        }
      }
    }
  });
});
