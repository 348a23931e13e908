/** The encoder door (src/protocol/encoder.ts): deliveries and replies as mqtt-packet reads them, and the fan-out cache. */
import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { PacketEncoder, type Delivery, type ProtocolVersion } from '../../src/protocol/index.js';

function read(bytes: Buffer, version: ProtocolVersion): Packet {
  const parser = mqttPacket.parser({ protocolVersion: version });
  let packet: Packet | undefined;
  parser.on('packet', (p: Packet) => (packet = p));
  parser.parse(bytes);
  return packet!;
}

describe('PacketEncoder', () => {
  it('encodes a QoS 0 PUBLISH once per message and variant for a whole fan-out', () => {
    const encoder = new PacketEncoder(() => 0);
    const message = { topic: 'a/b', payload: Buffer.from('x') };
    const delivery: Delivery = { message, qos: 0, retain: false };
    const first = encoder.encodeDelivery(delivery, false, 4, 0);
    expect(encoder.encodeDelivery({ ...delivery }, false, 4, 0)).toBe(first);
    expect(encoder.encodeDelivery({ ...delivery }, false, 3, 0)).toBe(first);
    const v5 = encoder.encodeDelivery(delivery, false, 5, 0);
    expect(v5).not.toBe(first);
    expect(read(v5, 5)).toMatchObject({ cmd: 'publish', topic: 'a/b', qos: 0, retain: false });
  });

  it('[5.0 MQTT-3.3.2-6] forwards what is left of the message expiry, by the clock it was given', () => {
    let now = 1_000_000;
    const encoder = new PacketEncoder(() => now);
    const delivery: Delivery = { message: { topic: 't', payload: Buffer.from('x'), expiresAt: now + 10_000 }, qos: 1, retain: false, packetId: 9 };
    now += 4_500;
    expect(read(encoder.encodeDelivery(delivery, true, 5, 0), 5)).toMatchObject({ cmd: 'publish', messageId: 9, dup: true, properties: { messageExpiryInterval: 6 } });
  });

  it('[5.0 MQTT-3.14.2-3] [5.0 MQTT-3.14.2-4] drops the reason string and user properties of a reply that would exceed the client’s Maximum Packet Size', () => {
    const encoder = new PacketEncoder(() => 0);
    const reply: Packet = { cmd: 'disconnect', reasonCode: 0x87, properties: { reasonString: 'r'.repeat(50), userProperties: { k: 'v' } } };
    const full = encoder.encodeReply(reply, 5, Infinity);
    const trimmed = encoder.encodeReply(reply, 5, 20);
    expect(trimmed.length).toBeLessThan(full.length);
    expect(read(trimmed, 5)).toMatchObject({ cmd: 'disconnect', reasonCode: 0x87 });
    expect((read(trimmed, 5) as { properties?: object }).properties).toBeUndefined();
  });

  it('acks: the 4-byte form for Success and for every 3.1.1 ack, 5 bytes for a 5.0 reason code', () => {
    const encoder = new PacketEncoder(() => 0);
    expect(encoder.encodeReply({ cmd: 'puback', messageId: 3 }, 5, Infinity)).toEqual(Buffer.from([0x40, 0x02, 0x00, 0x03]));
    expect(encoder.encodeReply({ cmd: 'puback', messageId: 3, reasonCode: 0x10 }, 4, Infinity)).toEqual(Buffer.from([0x40, 0x02, 0x00, 0x03]));
    expect(encoder.encodeReply({ cmd: 'pubrec', messageId: 3, reasonCode: 0x10 }, 5, Infinity)).toEqual(Buffer.from([0x50, 0x03, 0x00, 0x03, 0x10]));
  });
});
