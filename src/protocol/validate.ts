/**
 * Checks a whole packet from a client, byte by byte, against the rules mqtt-packet decodes
 * leniently or not at all: every field present and no byte left over, UTF-8 strings well-formed
 * and without U+0000, property identifiers allowed for the packet and given at most once, property
 * values in range, non-zero packet identifiers, at least one filter in SUBSCRIBE/UNSUBSCRIBE, no
 * body on PINGREQ. A packet that passes is then decoded by mqtt-packet (or the fast paths).
 * Why here, on the raw frame: mqtt-packet silently skips trailing bytes (a user name sent with its
 * flag 0), decodes a Payload Format Indicator of 2 as "true", keeps the last of two Content Types,
 * and turns ill-formed UTF-8 into U+FFFD — each a packet the spec says to refuse.
 * This file has the rules per packet; the field readers are in frame-cursor.ts and the property
 * lists in frame-properties.ts.
 */
import { bodyOffset, Cursor, expectEnd, malformed, protocolError, Violation } from './frame-cursor.js';
import { readProperties } from './frame-properties.js';
import type { ProtocolVersion } from './packets.js';
import type { ReasonCode } from './reasons.js';

/** What is wrong with a packet: 0x81 Malformed Packet or 0x82 Protocol Error, and why. */
export interface FrameViolation {
  reasonCode: typeof ReasonCode.MalformedPacket | typeof ReasonCode.ProtocolError;
  message: string;
}

/** Which properties a client may put in each packet (spec 3.x.2.2), as identifier sets. */
const ALLOWED = {
  connect: new Set([0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26, 0x15, 0x16]),
  will: new Set([0x18, 0x01, 0x02, 0x03, 0x08, 0x09, 0x26]),
  // The Subscription Identifier is allowed by type but never from a client; the PUBLISH handler
  // answers it with its own Protocol Error [5.0 MQTT-3.3.4-6].
  publish: new Set([0x01, 0x02, 0x23, 0x08, 0x09, 0x26, 0x0b, 0x03]),
  ack: new Set([0x1f, 0x26]),
  subscribe: new Set([0x0b, 0x26]),
  unsubscribe: new Set([0x26]),
  disconnect: new Set([0x11, 0x1f, 0x26, 0x1c]),
  auth: new Set([0x15, 0x16, 0x1f, 0x26]),
} as const;

/** Reason codes a client may send in each acknowledgement (spec 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1). */
const PUBACK_REASONS = new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]);
const PUBREL_REASONS = new Set([0x00, 0x92]);

/** Fixed-header flags every packet type but PUBLISH must carry exactly (spec 2.2.2, Table 2.2). */
const REQUIRED_FLAGS: Record<number, number> = { 1: 0, 2: 0, 4: 0, 5: 0, 6: 2, 7: 0, 8: 2, 9: 0, 10: 2, 11: 0, 12: 0, 13: 0, 14: 0, 15: 0 };

/** The protocol level of a CONNECT frame (3, 4 or 5), or undefined when it is another level or unreadable. */
export function connectProtocolLevel(frame: Buffer): ProtocolVersion | undefined {
  const start = bodyOffset(frame);
  if (start + 2 > frame.length) return undefined;
  const nameLength = (frame[start]! << 8) | frame[start + 1]!;
  const level = frame[start + 2 + nameLength];
  return level === 3 || level === 4 || level === 5 ? level : undefined;
}

/**
 * The first rule a client packet breaks, or undefined when it keeps them all. `version` is the
 * connection's protocol version; a CONNECT is read with the level it announces itself.
 */
export function checkClientFrame(frame: Buffer, version: ProtocolVersion): FrameViolation | undefined {
  try {
    checkFrame(frame, version);
    return undefined;
  } catch (error) {
    if (error instanceof Violation) return { reasonCode: error.reasonCode, message: error.message };
    throw error;
  }
}

function checkFrame(frame: Buffer, connectionVersion: ProtocolVersion): void {
  const type = frame[0]! >> 4;
  const flags = frame[0]! & 0x0f;
  const cursor = new Cursor(frame, bodyOffset(frame), frame.length);
  if (type === 0 || (type === 15 && connectionVersion !== 5)) throw malformed(`reserved packet type ${type}`);
  if (type === 3) {
    if ((flags & 0x06) === 0x06) throw malformed('PUBLISH with QoS 3');
  } else if (REQUIRED_FLAGS[type] !== flags) {
    throw malformed(`invalid fixed-header flags 0x${flags.toString(16)} for packet type ${type}`);
  }
  const v5 = connectionVersion === 5;
  switch (type) {
    case 1:
      return checkConnect(cursor);
    case 3:
      return checkPublish(cursor, (flags >> 1) & 3, v5);
    case 4:
    case 5:
    case 6:
    case 7:
      return checkAck(cursor, type, v5);
    case 8:
      return checkSubscribe(cursor, v5);
    case 10:
      return checkUnsubscribe(cursor, v5);
    case 12:
      return expectEnd(cursor, 'PINGREQ');
    case 14:
      return checkDisconnect(cursor, v5);
    case 15:
      return checkAuth(cursor);
    default:
      // CONNACK, SUBACK, UNSUBACK, PINGRESP: the dispatcher refuses them as server-only.
      return;
  }
}

function checkConnect(cursor: Cursor): void {
  cursor.binary('protocol name');
  const level = cursor.byte('protocol level');
  // An unknown level is answered with CONNACK 0x01 by the CONNECT path; nothing more to check here.
  if (level !== 3 && level !== 4 && level !== 5) return;
  const v5 = level === 5;
  const connectFlags = cursor.byte('connect flags');
  if (connectFlags & 0x01) throw malformed('CONNECT reserved flag is not 0');
  const hasWill = (connectFlags & 0x04) !== 0;
  const willQos = (connectFlags >> 3) & 3;
  const willRetain = (connectFlags & 0x20) !== 0;
  const hasPassword = (connectFlags & 0x40) !== 0;
  const hasUsername = (connectFlags & 0x80) !== 0;
  if (!hasWill && (willQos !== 0 || willRetain)) throw malformed('Will QoS or Will Retain set without the Will Flag');
  if (hasWill && willQos === 3) throw malformed('Will QoS 3');
  if (!v5 && hasPassword && !hasUsername) throw malformed('password without a user name');
  cursor.u16('keep alive');
  let properties = new Set<number>();
  if (v5) properties = readProperties(cursor, ALLOWED.connect, 'CONNECT');
  if (properties.has(0x16) && !properties.has(0x15)) throw protocolError('Authentication Data without an Authentication Method');
  cursor.string('client identifier');
  if (hasWill) {
    if (v5) readProperties(cursor, ALLOWED.will, 'will properties');
    const topic = cursor.string('will topic');
    if (topic.length === 0) throw malformed('empty will topic');
    cursor.binary('will payload');
  }
  if (hasUsername) cursor.string('user name');
  if (hasPassword) cursor.binary('password');
  // A user name or password sent while its flag is 0 is left over here.
  expectEnd(cursor, 'CONNECT');
}

function checkPublish(cursor: Cursor, qos: number, v5: boolean): void {
  const topic = cursor.string('topic name');
  if (qos > 0 && cursor.u16('packet identifier') === 0) throw protocolError('PUBLISH with packet identifier 0');
  if (v5) {
    const properties = readProperties(cursor, ALLOWED.publish, 'PUBLISH');
    if (topic.length === 0 && !properties.has(0x23)) throw protocolError('empty topic name without a topic alias');
  } else if (topic.length === 0) {
    throw malformed('empty topic name');
  }
}

const ACK_NAMES: Record<number, string> = { 4: 'PUBACK', 5: 'PUBREC', 6: 'PUBREL', 7: 'PUBCOMP' };

function checkAck(cursor: Cursor, type: number, v5: boolean): void {
  const name = ACK_NAMES[type]!;
  if (!v5) {
    if (cursor.remaining !== 2) throw malformed(`${name} with remaining length ${cursor.remaining}, not 2`);
    return;
  }
  if (cursor.remaining < 2) throw malformed(`${name} with remaining length ${cursor.remaining}`);
  if (cursor.u16('packet identifier') === 0) throw protocolError(`${name} with packet identifier 0`);
  if (cursor.remaining === 0) return;
  const reasonCode = cursor.byte('reason code');
  const allowed = type === 4 || type === 5 ? PUBACK_REASONS : PUBREL_REASONS;
  if (!allowed.has(reasonCode)) throw malformed(`${name} with reason code 0x${reasonCode.toString(16)}`);
  if (cursor.remaining === 0) return;
  readProperties(cursor, ALLOWED.ack, name);
  expectEnd(cursor, name);
}

function checkFilter(cursor: Cursor, packet: string): void {
  const filter = cursor.string(`${packet} topic filter`);
  // Topic filters are at least one character long [3.1.1 MQTT-4.7.3-1] [5.0 MQTT-4.7.3-1].
  if (filter.length === 0) throw malformed(`empty topic filter in ${packet}`);
}

function checkSubscribe(cursor: Cursor, v5: boolean): void {
  if (cursor.u16('packet identifier') === 0) throw protocolError('SUBSCRIBE with packet identifier 0');
  if (v5) readProperties(cursor, ALLOWED.subscribe, 'SUBSCRIBE');
  if (cursor.remaining === 0) throw protocolError('SUBSCRIBE without a topic filter');
  while (cursor.remaining > 0) {
    checkFilter(cursor, 'SUBSCRIBE');
    const options = cursor.byte('subscription options');
    if ((options & 3) === 3) throw malformed('requested QoS 3');
    if (v5) {
      if (options & 0xc0) throw malformed('reserved bits of the subscription options are not 0');
      if (((options >> 4) & 3) === 3) throw protocolError('Retain Handling 3');
    } else if (options & 0xfc) {
      throw malformed('reserved bits of the requested QoS byte are not 0');
    }
  }
}

function checkUnsubscribe(cursor: Cursor, v5: boolean): void {
  if (cursor.u16('packet identifier') === 0) throw protocolError('UNSUBSCRIBE with packet identifier 0');
  if (v5) readProperties(cursor, ALLOWED.unsubscribe, 'UNSUBSCRIBE');
  if (cursor.remaining === 0) throw protocolError('UNSUBSCRIBE without a topic filter');
  while (cursor.remaining > 0) checkFilter(cursor, 'UNSUBSCRIBE');
}

function checkDisconnect(cursor: Cursor, v5: boolean): void {
  if (!v5 || cursor.remaining === 0) return expectEnd(cursor, 'DISCONNECT');
  cursor.byte('reason code');
  if (cursor.remaining === 0) return;
  readProperties(cursor, ALLOWED.disconnect, 'DISCONNECT');
  expectEnd(cursor, 'DISCONNECT');
}

function checkAuth(cursor: Cursor): void {
  if (cursor.remaining === 0) return;
  cursor.byte('reason code');
  if (cursor.remaining === 0) return;
  readProperties(cursor, ALLOWED.auth, 'AUTH');
  expectEnd(cursor, 'AUTH');
}
