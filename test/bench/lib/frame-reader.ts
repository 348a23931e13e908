/**
 * The load generator's receive path: splits a TCP byte stream into MQTT frames without decoding
 * them. PUBLISH is counted and acknowledged from its first byte and packet id alone; the acks owed
 * for one chunk come back as one buffer, so a socket answers a whole read with one write.
 * mqtt-packet's Parser builds an object per packet, which made the generator, not the broker, the
 * ceiling of the fan-out and QoS 1 scenarios. Anything that is not a PUBLISH or an ack is handed
 * over as raw bytes (CONNACK, SUBACK, PINGRESP: rare, decoded by the caller).
 */

export const PacketType = {
  CONNECT: 1,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
} as const;

export interface FrameHandler {
  /** `bytes[payloadOffset..payloadEnd)` is the payload; valid only during the call. */
  publishReceived(bytes: Buffer, payloadOffset: number, payloadEnd: number): void;
  /** PUBACK, PUBREC or PUBCOMP for one of our own PUBLISHes (PUBREL for a PUBREC is already queued). */
  ackReceived(type: number, packetId: number): void;
  /** Any other frame, fixed header included; valid only during the call. */
  controlReceived(frame: Buffer): void;
}

// First bytes of the 4-byte acks. 3.1.1 and 5.0 alike: a 5.0 ack with reason Success and no
// properties may omit both, leaving remaining length 2 (5.0 section 3.4.2.1, not a numbered statement).
const PUBACK_FIRST_BYTE = 0x40;
const PUBREC_FIRST_BYTE = 0x50;
const PUBREL_FIRST_BYTE = 0x62; // PUBREL's fixed-header flags must be 0010 [3.1.1 MQTT-3.6.1-1]
const PUBCOMP_FIRST_BYTE = 0x70;

export class FrameReader {
  /** The start of a frame that the previous chunk cut off. */
  private partial: Buffer | undefined;
  /** Grown on demand: scenario 6 holds 10,000 idle readers that never ack anything. */
  private acks = Buffer.alloc(0);
  private ackBytes = 0;

  constructor(
    private readonly version: 4 | 5,
    private readonly handler: FrameHandler,
  ) {}

  /** Handles every whole frame in `chunk`; returns the acks owed for them, or undefined. */
  read(chunk: Buffer): Buffer | undefined {
    const bytes = this.partial ? Buffer.concat([this.partial, chunk]) : chunk;
    this.partial = undefined;
    this.ackBytes = 0;
    const end = bytes.length;
    let offset = 0;
    while (offset < end) {
      let pos = offset + 1;
      let remaining = 0;
      let isLengthComplete = false;
      for (let multiplier = 1; pos < end; multiplier *= 128) {
        const byte = bytes[pos++]!;
        remaining += (byte & 0x7f) * multiplier;
        if ((byte & 0x80) === 0) {
          isLengthComplete = true;
          break;
        }
        if (multiplier === 128 ** 3) throw new Error('malformed remaining length (more than 4 bytes)');
      }
      const frameEnd = pos + remaining;
      if (!isLengthComplete || frameEnd > end) break;
      this.dispatch(bytes, offset, pos, frameEnd);
      offset = frameEnd;
    }
    // A copy: the caller may reuse its read buffer (LoadClient does).
    if (offset < end) this.partial = Buffer.from(bytes.subarray(offset));
    if (this.ackBytes === 0) return undefined;
    // The socket keeps what it is given until written: hand it a copy, keep reusing our buffer.
    const out = Buffer.allocUnsafe(this.ackBytes);
    this.acks.copy(out, 0, 0, this.ackBytes);
    return out;
  }

  private dispatch(bytes: Buffer, frameStart: number, bodyStart: number, frameEnd: number): void {
    const firstByte = bytes[frameStart]!;
    const type = firstByte >> 4;
    if (type === PacketType.PUBLISH) {
      const qos = (firstByte >> 1) & 3;
      let pos = bodyStart + 2 + ((bytes[bodyStart]! << 8) | bytes[bodyStart + 1]!);
      if (qos > 0) {
        this.queueAck(qos === 1 ? PUBACK_FIRST_BYTE : PUBREC_FIRST_BYTE, bytes[pos]!, bytes[pos + 1]!);
        pos += 2;
      }
      // 5.0: the properties follow the packet id; skip them (varint length, then the bytes).
      if (this.version === 5) pos = skipProperties(bytes, pos);
      this.handler.publishReceived(bytes, pos, frameEnd);
      return;
    }
    if (type === PacketType.PUBREL) {
      this.queueAck(PUBCOMP_FIRST_BYTE, bytes[bodyStart]!, bytes[bodyStart + 1]!);
      return;
    }
    if (type === PacketType.PUBACK || type === PacketType.PUBREC || type === PacketType.PUBCOMP) {
      if (type === PacketType.PUBREC) this.queueAck(PUBREL_FIRST_BYTE, bytes[bodyStart]!, bytes[bodyStart + 1]!);
      this.handler.ackReceived(type, (bytes[bodyStart]! << 8) | bytes[bodyStart + 1]!);
      return;
    }
    this.handler.controlReceived(bytes.subarray(frameStart, frameEnd));
  }

  private queueAck(firstByte: number, idHigh: number, idLow: number): void {
    if (this.ackBytes + 4 > this.acks.length) {
      const larger = Buffer.allocUnsafe(Math.max(1024, this.acks.length * 2));
      this.acks.copy(larger, 0, 0, this.ackBytes);
      this.acks = larger;
    }
    const acks = this.acks;
    const at = this.ackBytes;
    acks[at] = firstByte;
    acks[at + 1] = 2;
    acks[at + 2] = idHigh;
    acks[at + 3] = idLow;
    this.ackBytes = at + 4;
  }
}

/** Position after a 5.0 property block that starts at `pos`. */
export function skipProperties(bytes: Buffer, pos: number): number {
  let length = 0;
  for (let multiplier = 1; ; multiplier *= 128) {
    const byte = bytes[pos++]!;
    length += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return pos + length;
  }
}
