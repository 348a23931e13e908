/** The Remaining Length the broker writes uses the fewest bytes that hold it. */
import { describe, expect, it } from 'vitest';
import { encodePublish, encodePublishWithAlias } from '../../src/protocol/index.js';

function lengthBytes(packet: Buffer): number {
  let count = 1;
  while (packet[count]! & 0x80) count++;
  return count;
}

describe('Variable Byte Integers we write', () => {
  it.each([
    [127, 1],
    [128, 2],
    [16_383, 2],
    [16_384, 3],
    [2_097_151, 3],
    [2_097_152, 4],
  ])('[5.0 MQTT-1.5.5-1] a remaining length of %i takes %i byte(s)', (remaining, expected) => {
    // Topic "t" (3 bytes) + 5.0 property length (1 byte) around the payload.
    const payload = Buffer.alloc(remaining - 4);
    const packet = encodePublish(5, 't', 1, payload, 0, false, false, 0);
    expect(lengthBytes(packet)).toBe(expected);
    expect(packet.length).toBe(1 + expected + remaining);
    const aliased = encodePublishWithAlias('', 0, 1, Buffer.alloc(remaining - 6), 0, false, false, 0);
    expect(lengthBytes(aliased)).toBe(expected);
  });
});
