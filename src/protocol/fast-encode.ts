/**
 * Hand-encoded forms of the packets that are sent once per message: PUBLISH without properties
 * and the four acknowledgements with reason Success. Everything else goes through mqtt-packet.
 * Why: in the QoS 1 benchmark, mqtt-packet's generate() (an accumulator, a debug() call and a
 * concat per packet) was 6-7% of the broker's CPU; these write one buffer directly. The output
 * is byte-for-byte what mqtt-packet produces (test/protocol/fast-encode.test.ts checks that).
 */
import type { ProtocolVersion } from './packets.js';

const PUBLISH = 0x30;

/** Fixed header first bytes of the acknowledgements (PUBREL has the required flags 0b0010). */
export const AckType = {
  puback: 0x40,
  pubrec: 0x50,
  pubrel: 0x62,
  pubcomp: 0x70,
} as const;
export type AckType = (typeof AckType)[keyof typeof AckType];

/**
 * PUBACK/PUBREC/PUBREL/PUBCOMP with reason Success and no properties: the same 4 bytes in every
 * version (MQTT 5 may omit a Success reason code and empty properties, 3.4.2.1).
 */
export function encodeAck(type: AckType, packetId: number): Buffer {
  const bytes = Buffer.allocUnsafe(4);
  bytes[0] = type;
  bytes[1] = 2;
  bytes[2] = packetId >> 8;
  bytes[3] = packetId & 0xff;
  return bytes;
}

/**
 * MQTT 5 PUBACK/PUBREC/PUBREL/PUBCOMP with a reason code and no properties: 5 bytes, the Property
 * Length left out as a Remaining Length of 3 allows (spec 3.4.2.2.1) — one byte less than
 * mqtt-packet writes, on every "no matching subscribers" acknowledgement.
 */
export function encodeAckWithReason(type: AckType, packetId: number, reasonCode: number): Buffer {
  const bytes = Buffer.allocUnsafe(5);
  bytes[0] = type;
  bytes[1] = 3;
  bytes[2] = packetId >> 8;
  bytes[3] = packetId & 0xff;
  bytes[4] = reasonCode;
  return bytes;
}

/**
 * A 3.1/3.1.1 CONNACK (spec 3.2): always 4 bytes, so each of the few there are is built once and
 * shared: a connection storm writes one of these per client, and mqtt-packet's generate() was
 * most of the CONNECT path's encoding cost. The socket only reads them.
 */
const CONNACK_V4: Buffer[] = [];

export function encodeConnackV4(isSessionPresent: boolean, returnCode: number): Buffer {
  const index = (returnCode << 1) | (isSessionPresent ? 1 : 0);
  return (CONNACK_V4[index] ??= Buffer.from([0x20, 0x02, isSessionPresent ? 1 : 0, returnCode]));
}

function remainingLengthSize(length: number): number {
  return length < 0x80 ? 1 : length < 0x4000 ? 2 : length < 0x200000 ? 3 : 4;
}

/**
 * A PUBLISH without properties (MQTT 5: an empty property list). `packetId` is ignored for QoS 0.
 * The topic's byte length is passed in so a fan-out measures it once.
 */
export function encodePublish(
  version: ProtocolVersion,
  topic: string,
  topicByteLength: number,
  payload: Buffer,
  qos: 0 | 1 | 2,
  retain: boolean,
  dup: boolean,
  packetId: number,
): Buffer {
  const remaining = 2 + topicByteLength + (qos > 0 ? 2 : 0) + (version === 5 ? 1 : 0) + payload.length;
  const lengthSize = remainingLengthSize(remaining);
  const bytes = Buffer.allocUnsafe(1 + lengthSize + remaining);
  let offset = writePublishHeader(bytes, qos, retain, dup, remaining);
  bytes[offset++] = topicByteLength >> 8;
  bytes[offset++] = topicByteLength & 0xff;
  offset += bytes.write(topic, offset, topicByteLength, 'utf8');
  if (qos > 0) {
    bytes[offset++] = packetId >> 8;
    bytes[offset++] = packetId & 0xff;
  }
  if (version === 5) bytes[offset++] = 0;
  payload.copy(bytes, offset);
  return bytes;
}

/**
 * An MQTT 5 PUBLISH whose only property is a Topic Alias: `topic` is the topic that defines the
 * alias, or '' (byte length 0) to use an alias the client already has.
 */
export function encodePublishWithAlias(
  topic: string,
  topicByteLength: number,
  alias: number,
  payload: Buffer,
  qos: 0 | 1 | 2,
  retain: boolean,
  dup: boolean,
  packetId: number,
): Buffer {
  const remaining = 2 + topicByteLength + (qos > 0 ? 2 : 0) + 4 + payload.length;
  const lengthSize = remainingLengthSize(remaining);
  const bytes = Buffer.allocUnsafe(1 + lengthSize + remaining);
  let offset = writePublishHeader(bytes, qos, retain, dup, remaining);
  bytes[offset++] = topicByteLength >> 8;
  bytes[offset++] = topicByteLength & 0xff;
  if (topicByteLength > 0) offset += bytes.write(topic, offset, topicByteLength, 'utf8');
  if (qos > 0) {
    bytes[offset++] = packetId >> 8;
    bytes[offset++] = packetId & 0xff;
  }
  bytes[offset++] = 3; // property length
  bytes[offset++] = 0x23; // Topic Alias
  bytes[offset++] = alias >> 8;
  bytes[offset++] = alias & 0xff;
  payload.copy(bytes, offset);
  return bytes;
}

/** The fixed header of a PUBLISH (type, flags, Remaining Length); returns where the body starts. */
function writePublishHeader(bytes: Buffer, qos: 0 | 1 | 2, retain: boolean, dup: boolean, remaining: number): number {
  bytes[0] = PUBLISH | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0);
  let offset = 1;
  let length = remaining;
  do {
    let digit = length & 0x7f;
    length >>>= 7;
    if (length > 0) digit |= 0x80;
    bytes[offset++] = digit;
  } while (length > 0);
  return offset;
}
