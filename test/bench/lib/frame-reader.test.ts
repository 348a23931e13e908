/**
 * The load generator's frame reader must count, ack and find payloads exactly as a decoder would,
 * wherever TCP cuts the stream: checked against mqtt-packet's encoder at every split point.
 */
import { describe, expect, it } from 'vitest';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { FrameReader, PacketType, type FrameHandler } from './frame-reader.js';

interface Seen {
  payloads: string[];
  acks: Array<[number, number]>;
  controls: number[];
  owed: Buffer[];
}

function readInPieces(version: 4 | 5, stream: Buffer, cuts: number[]): Seen {
  const seen: Seen = { payloads: [], acks: [], controls: [], owed: [] };
  const handler: FrameHandler = {
    publishReceived: (bytes, from, to) => seen.payloads.push(bytes.toString('latin1', from, to)),
    ackReceived: (type, id) => seen.acks.push([type, id]),
    controlReceived: (frame) => seen.controls.push(frame[0]! >> 4),
  };
  const reader = new FrameReader(version, handler);
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    const owed = reader.read(stream.subarray(from, cut));
    if (owed) seen.owed.push(owed);
    from = cut;
  }
  return seen;
}

function encode(version: 4 | 5, packets: Packet[]): Buffer {
  return Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: version })));
}

describe.each([4, 5] as const)('FrameReader, MQTT %i', (version) => {
  const bigPayload = Buffer.alloc(300, 0x62); // a two-byte remaining length
  const stream = encode(version, [
    { cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false },
    { cmd: 'publish', topic: 'a/b', payload: Buffer.from('zero'), qos: 0, retain: false, dup: false },
    {
      cmd: 'publish',
      topic: 'a/c',
      payload: Buffer.from('one'),
      qos: 1,
      messageId: 0x1234,
      retain: false,
      dup: false,
      ...(version === 5 ? { properties: { contentType: 'text/plain', userProperties: { k: 'v' } } } : {}),
    },
    { cmd: 'publish', topic: 'x', payload: bigPayload, qos: 2, messageId: 7, retain: true, dup: false },
    { cmd: 'pubrel', messageId: 7 },
    { cmd: 'puback', messageId: 300 },
    { cmd: 'pubrec', messageId: 301 },
    { cmd: 'pubcomp', messageId: 301 },
    { cmd: 'pingresp' },
  ]);
  const expectedOwed = Buffer.from([0x40, 2, 0x12, 0x34, 0x50, 2, 0, 7, 0x70, 2, 0, 7, 0x62, 2, 0x01, 0x2d]);

  it('reads a stream in one piece: payloads, acks owed, acks seen, other frames', () => {
    const seen = readInPieces(version, stream, []);
    expect(seen.payloads).toEqual(['zero', 'one', bigPayload.toString('latin1')]);
    expect(Buffer.concat(seen.owed)).toEqual(expectedOwed);
    expect(seen.acks).toEqual([
      [PacketType.PUBACK, 300],
      [PacketType.PUBREC, 301],
      [PacketType.PUBCOMP, 301],
    ]);
    expect(seen.controls).toEqual([2, 13]);
  });

  it('gives the same result wherever the stream is cut, once or twice', () => {
    const whole = readInPieces(version, stream, []);
    for (let a = 1; a < stream.length; a++) {
      for (const b of [a + 1, a + 3, a + 17]) {
        const cuts = b < stream.length ? [a, b] : [a];
        const seen = readInPieces(version, stream, cuts);
        expect({ ...seen, owed: Buffer.concat(seen.owed) }).toEqual({ ...whole, owed: Buffer.concat(whole.owed) });
      }
    }
  });
});
