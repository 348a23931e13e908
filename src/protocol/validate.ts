/**
 * Checks a whole packet from a client, byte by byte, against the rules mqtt-packet decodes
 * leniently or not at all: every field present and no byte left over, UTF-8 strings well-formed
 * and without U+0000, property identifiers allowed for the packet and given at most once, property
 * values in range, non-zero packet identifiers, at least one filter in SUBSCRIBE/UNSUBSCRIBE, no
 * body on PINGREQ. A packet that passes is then decoded by mqtt-packet (or the fast paths).
 * Why here, on the raw frame: mqtt-packet silently skips trailing bytes (a user name sent with its
 * flag 0), decodes a Payload Format Indicator of 2 as "true", keeps the last of two Content Types,
 * and turns ill-formed UTF-8 into U+FFFD — each a packet the spec says to refuse.
 */
import { isUtf8 } from 'node:buffer';
import type { ProtocolVersion } from './packets.js';
import { ReasonCode } from './reasons.js';

/** What is wrong with a packet: 0x81 Malformed Packet or 0x82 Protocol Error, and why. */
export interface FrameViolation {
  reasonCode: typeof ReasonCode.MalformedPacket | typeof ReasonCode.ProtocolError;
  message: string;
}

class Violation extends Error {
  constructor(
    readonly reasonCode: FrameViolation['reasonCode'],
    message: string,
  ) {
    super(message);
  }
}

const malformed = (message: string): Violation => new Violation(ReasonCode.MalformedPacket, message);
const protocolError = (message: string): Violation => new Violation(ReasonCode.ProtocolError, message);

type PropertyType = 'byte' | 'u16' | 'u32' | 'vbi' | 'string' | 'binary' | 'pair';

/** MQTT 5 property identifiers (spec 2.2.2.2) and their data types. */
const PROPERTY_TYPES: Record<number, PropertyType> = {
  0x01: 'byte', // Payload Format Indicator
  0x02: 'u32', // Message Expiry Interval
  0x03: 'string', // Content Type
  0x08: 'string', // Response Topic
  0x09: 'binary', // Correlation Data
  0x0b: 'vbi', // Subscription Identifier
  0x11: 'u32', // Session Expiry Interval
  0x12: 'string', // Assigned Client Identifier
  0x13: 'u16', // Server Keep Alive
  0x15: 'string', // Authentication Method
  0x16: 'binary', // Authentication Data
  0x17: 'byte', // Request Problem Information
  0x18: 'u32', // Will Delay Interval
  0x19: 'byte', // Request Response Information
  0x1a: 'string', // Response Information
  0x1c: 'string', // Server Reference
  0x1f: 'string', // Reason String
  0x21: 'u16', // Receive Maximum
  0x22: 'u16', // Topic Alias Maximum
  0x23: 'u16', // Topic Alias
  0x24: 'byte', // Maximum QoS
  0x25: 'byte', // Retain Available
  0x26: 'pair', // User Property
  0x27: 'u32', // Maximum Packet Size
  0x28: 'byte', // Wildcard Subscription Available
  0x29: 'byte', // Subscription Identifier Available
  0x2a: 'byte', // Shared Subscription Available
};

const USER_PROPERTY = 0x26;
const RESPONSE_TOPIC = 0x08;
const SUBSCRIPTION_IDENTIFIER = 0x0b;
/** Byte properties whose only values are 0 and 1 (anything else is a Protocol Error). */
const BOOLEAN_PROPERTIES = new Set([0x01, 0x17, 0x19]);
/** Properties for which 0 is a Protocol Error (Receive Maximum, Maximum Packet Size, Subscription Identifier). */
const NON_ZERO_PROPERTIES = new Set([0x21, 0x27, 0x0b]);

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

class Cursor {
  constructor(
    readonly bytes: Buffer,
    public pos: number,
    public end: number,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  need(count: number, what: string): void {
    if (this.pos + count > this.end) throw malformed(`${what} runs past the end of the packet`);
  }

  byte(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const value = (this.bytes[this.pos]! << 8) | this.bytes[this.pos + 1]!;
    this.pos += 2;
    return value;
  }

  u32(what: string): number {
    this.need(4, what);
    const value = this.bytes.readUInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  vbi(what: string): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      const byte = this.byte(what);
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return value;
      multiplier *= 128;
    }
    throw malformed(`${what} is a Variable Byte Integer longer than 4 bytes`);
  }

  binary(what: string): Buffer {
    const length = this.u16(what);
    this.need(length, what);
    const value = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return value;
  }

  /** A UTF-8 Encoded String: well-formed, no surrogates [MQTT-1.5.3-1 / 5.0 MQTT-1.5.4-1], no U+0000 [MQTT-1.5.3-2 / 5.0 MQTT-1.5.4-2]. */
  string(what: string): Buffer {
    const value = this.binary(what);
    if (value.includes(0)) throw malformed(`${what} contains U+0000`);
    if (!isUtf8(value)) throw malformed(`${what} is not well-formed UTF-8`);
    return value;
  }
}

/** Reads a property list (length, then properties) and returns the identifiers seen. */
function readProperties(cursor: Cursor, allowed: ReadonlySet<number>, packet: string): Set<number> {
  const length = cursor.vbi(`${packet} property length`);
  if (length > cursor.remaining) throw malformed(`${packet} property length runs past the end of the packet`);
  const list = new Cursor(cursor.bytes, cursor.pos, cursor.pos + length);
  cursor.pos += length;
  const seen = new Set<number>();
  while (list.remaining > 0) {
    const id = list.vbi(`${packet} property identifier`);
    const type = PROPERTY_TYPES[id];
    // A property not defined for this packet is a Malformed Packet (spec 2.2.2.2).
    if (type === undefined || !allowed.has(id)) throw malformed(`property 0x${id.toString(16)} is not allowed in ${packet}`);
    if (seen.has(id) && id !== USER_PROPERTY && id !== SUBSCRIPTION_IDENTIFIER) {
      throw protocolError(`property 0x${id.toString(16)} appears more than once in ${packet}`);
    }
    seen.add(id);
    const what = `${packet} property 0x${id.toString(16)}`;
    let value = -1;
    switch (type) {
      case 'byte':
        value = list.byte(what);
        if (BOOLEAN_PROPERTIES.has(id) && value > 1) throw protocolError(`${what} has the value ${value}, not 0 or 1`);
        break;
      case 'u16':
        value = list.u16(what);
        break;
      case 'u32':
        value = list.u32(what);
        break;
      case 'vbi':
        value = list.vbi(what);
        break;
      case 'string': {
        const text = list.string(what);
        // A Response Topic is a topic name: no wildcards [5.0 MQTT-3.3.2-14].
        if (id === RESPONSE_TOPIC && (text.includes(0x2b) || text.includes(0x23))) throw protocolError('Response Topic with a wildcard');
        break;
      }
      case 'binary':
        list.binary(what);
        break;
      case 'pair':
        list.string(`${what} name`);
        list.string(`${what} value`);
        break;
    }
    if (value === 0 && NON_ZERO_PROPERTIES.has(id)) throw protocolError(`${what} is 0`);
  }
  return seen;
}

function expectEnd(cursor: Cursor, packet: string): void {
  if (cursor.remaining !== 0) throw malformed(`${cursor.remaining} unexpected bytes at the end of ${packet}`);
}

/** Offset of the variable header: after the type byte and the Remaining Length. */
function bodyOffset(frame: Buffer): number {
  let offset = 1;
  while (frame[offset]! & 0x80) offset++;
  return offset + 1;
}

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
  // Topic filters are at least one character long [MQTT-4.7.3-1].
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
