/**
 * Reading the fields of one raw client frame, each against the encoding rules of spec 1.5: a
 * cursor over the frame's bytes that refuses to run past its end, Variable Byte Integers of at
 * most 4 bytes, and UTF-8 Encoded Strings that are well-formed and hold no U+0000. A broken rule is
 * thrown as a `Violation` (0x81 Malformed Packet or 0x82 Protocol Error); validate.ts turns it into
 * its answer. Only the frame checks use this: decoding proper is mqtt-packet's or the fast paths'.
 */
import { isUtf8 } from 'node:buffer';
import { ReasonCode } from './reasons.js';

/** A rule the frame breaks: thrown by the readers, caught once by checkClientFrame. */
export class Violation extends Error {
  constructor(
    readonly reasonCode: typeof ReasonCode.MalformedPacket | typeof ReasonCode.ProtocolError,
    message: string,
  ) {
    super(message);
  }
}

export const malformed = (message: string): Violation => new Violation(ReasonCode.MalformedPacket, message);
export const protocolError = (message: string): Violation => new Violation(ReasonCode.ProtocolError, message);

/** Reads fields from `pos` up to `end` (a frame, or one property list inside it). */
export class Cursor {
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

  /** A UTF-8 Encoded String: well-formed, no surrogates [3.1.1 MQTT-1.5.3-1] [5.0 MQTT-1.5.4-1], no U+0000 [3.1.1 MQTT-1.5.3-2] [5.0 MQTT-1.5.4-2]. */
  string(what: string): Buffer {
    const value = this.binary(what);
    if (value.includes(0)) throw malformed(`${what} contains U+0000`);
    if (!isUtf8(value)) throw malformed(`${what} is not well-formed UTF-8`);
    return value;
  }
}

export function expectEnd(cursor: Cursor, packet: string): void {
  if (cursor.remaining !== 0) throw malformed(`${cursor.remaining} unexpected bytes at the end of ${packet}`);
}

/** Offset of the variable header: after the type byte and the Remaining Length. */
export function bodyOffset(frame: Buffer): number {
  let offset = 1;
  while (frame[offset]! & 0x80) offset++;
  return offset + 1;
}
