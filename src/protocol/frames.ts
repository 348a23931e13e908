/**
 * Splits the byte stream of a connection into whole MQTT packets (fixed header + Remaining
 * Length), and decodes the two most frequent ones — a 3.1/3.1.1 PUBLISH and a 4-byte
 * acknowledgement — without mqtt-packet. Every other packet still goes to mqtt-packet's parser,
 * one whole frame at a time. Why: per packet, mqtt-packet's streaming parser (a BufferList, a
 * Packet object and an event) was 11-18% of the broker's CPU in the QoS 1 benchmarks.
 */
import type { ProtocolVersion, PubackPacket, PubcompPacket, PublishPacket, PubrecPacket, PubrelPacket } from './packets.js';

/** Why a stream cannot be split further; the connection is closed with the matching reason. */
export type FrameError = { kind: 'malformed-length' } | { kind: 'too-large'; size: number };

export interface FrameSink {
  /** A whole packet; `frame` may be a view of the socket's chunk, valid for as long as it is kept. */
  onFrame(frame: Buffer): void;
  onFrameError(error: FrameError): void;
}

/** The Remaining Length is at most 4 bytes (spec 2.2.3); the fixed header at most 5. */
const MAX_HEADER = 5;
/** First buffer for a packet that spans chunks; it doubles from here as bytes arrive. */
const INITIAL_PARTIAL = 16 * 1024;

export class FrameReader {
  /**
   * A packet longer than the chunk it started in, being filled: a buffer that grows (doubling, up
   * to the packet's size) with the bytes that actually arrive — never one of the announced size
   * up front, which a peer could set to 256 MB in five bytes and then never send.
   */
  private partial: Buffer | undefined;
  private partialFilled = 0;
  private partialTarget = 0;
  /** A fixed header cut off at the end of a chunk (fewer than 5 bytes). */
  private headerStash: Buffer | undefined;
  private hasFailed = false;

  constructor(
    /** Largest whole packet accepted, in bytes [5.0 MQTT-3.2.2-15] (the server side of Maximum Packet Size). */
    private maxPacketSize: number,
    private readonly sink: FrameSink,
  ) {}

  /** Changes the bound for packets whose header has not been read yet (e.g. once CONNECT is done). */
  setMaxPacketSize(size: number): void {
    this.maxPacketSize = size;
  }

  /** Bytes held for a packet not yet whole (for tests and metrics). */
  get bufferedBytes(): number {
    return this.partialFilled + (this.headerStash?.length ?? 0);
  }

  push(input: Buffer): void {
    if (this.hasFailed) return;
    let chunk = input;
    if (this.headerStash) {
      chunk = Buffer.concat([this.headerStash, input]);
      this.headerStash = undefined;
    }
    let offset = 0;
    const end = chunk.length;
    while (offset < end && !this.hasFailed) {
      if (this.partial) {
        const take = Math.min(this.partialTarget - this.partialFilled, end - offset);
        this.append(chunk, offset, take);
        offset += take;
        if (this.partialFilled === this.partialTarget) {
          const frame = this.partial.length === this.partialTarget ? this.partial : this.partial.subarray(0, this.partialTarget);
          this.partial = undefined;
          this.partialFilled = 0;
          this.sink.onFrame(frame);
        }
        continue;
      }
      // Fixed header: type byte, then the Remaining Length, 7 bits per byte.
      let remaining = 0;
      let multiplier = 1;
      let cursor = offset + 1;
      let isComplete = false;
      while (cursor < end && cursor - offset < MAX_HEADER) {
        const byte = chunk[cursor++]!;
        remaining += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          isComplete = true;
          break;
        }
      }
      if (!isComplete) {
        if (cursor - offset >= MAX_HEADER) return this.fail({ kind: 'malformed-length' });
        this.headerStash = Buffer.from(chunk.subarray(offset));
        return;
      }
      const size = cursor - offset + remaining;
      if (size > this.maxPacketSize) return this.fail({ kind: 'too-large', size });
      if (offset + size <= end) {
        this.sink.onFrame(chunk.subarray(offset, offset + size));
        offset += size;
      } else {
        this.partialTarget = size;
        this.partialFilled = 0;
        this.partial = Buffer.allocUnsafe(Math.min(size, Math.max(end - offset, INITIAL_PARTIAL)));
        this.append(chunk, offset, end - offset);
        return;
      }
    }
  }

  /** Copies bytes of `chunk` onto the partial packet, doubling its buffer when it is full. */
  private append(chunk: Buffer, offset: number, length: number): void {
    let partial = this.partial!;
    const needed = this.partialFilled + length;
    if (needed > partial.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.partialTarget, Math.max(partial.length * 2, needed)));
      partial.copy(grown, 0, 0, this.partialFilled);
      this.partial = partial = grown;
    }
    chunk.copy(partial, this.partialFilled, offset, offset + length);
    this.partialFilled = needed;
  }

  private fail(error: FrameError): void {
    this.hasFailed = true;
    this.partial = undefined;
    this.partialFilled = 0;
    this.headerStash = undefined;
    this.sink.onFrameError(error);
  }
}

/** Offset of the variable header: after the type byte and the Remaining Length. */
function bodyOffset(frame: Buffer): number {
  let offset = 1;
  while (frame[offset]! & 0x80) offset++;
  return offset + 1;
}

/**
 * A PUBLISH without properties (3.1/3.1.1, or 5.0 with an empty property list), or undefined when
 * anything about it is unusual (QoS 3, a topic that runs past the packet, packet id 0, MQTT 5
 * properties) — those go to mqtt-packet, which decodes or reports them as it always has.
 */
export function decodePlainPublish(frame: Buffer, version: ProtocolVersion): PublishPacket | undefined {
  const first = frame[0]!;
  const qos = (first >> 1) & 3;
  if (qos === 3) return undefined;
  const start = bodyOffset(frame);
  if (start + 2 > frame.length) return undefined;
  const topicLength = (frame[start]! << 8) | frame[start + 1]!;
  const topicEnd = start + 2 + topicLength;
  const idLength = qos > 0 ? 2 : 0;
  const propertiesLength = version === 5 ? 1 : 0;
  const payloadStart = topicEnd + idLength + propertiesLength;
  if (payloadStart > frame.length) return undefined;
  if (version === 5 && frame[topicEnd + idLength] !== 0) return undefined;
  if (topicLength === 0) return undefined;
  const topic = frame.toString('utf8', start + 2, topicEnd);
  // U+0000 and ill-formed UTF-8 (decoded as U+FFFD) go to the full check, which answers them as
  // malformed rather than as an invalid topic name [5.0 MQTT-1.5.4-2].
  if (topic.includes('\u0000') || topic.includes('\uFFFD')) return undefined;
  const packet: PublishPacket = {
    cmd: 'publish',
    retain: (first & 1) === 1,
    qos: qos as 0 | 1 | 2,
    dup: (first & 8) === 8,
    length: frame.length - start,
    topic,
    payload: frame.subarray(payloadStart),
  };
  if (qos > 0) {
    const packetId = (frame[topicEnd]! << 8) | frame[topicEnd + 1]!;
    if (packetId === 0) return undefined;
    packet.messageId = packetId;
  }
  return packet;
}

const ACK_COMMANDS: Record<number, 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'> = { 0x40: 'puback', 0x50: 'pubrec', 0x62: 'pubrel', 0x70: 'pubcomp' };

/**
 * A PUBACK, PUBREC, PUBREL or PUBCOMP in its 4-byte form (reason Success in every version), or
 * undefined for anything else — including a PUBREL with wrong flags or a packet id of 0, which the
 * full decoder reports.
 */
export function decodePlainAck(frame: Buffer): PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket | undefined {
  if (frame.length !== 4 || frame[1] !== 2) return undefined;
  const cmd = ACK_COMMANDS[frame[0]!];
  if (cmd === undefined) return undefined;
  const messageId = (frame[2]! << 8) | frame[3]!;
  // Packet id 0 acknowledges nothing; the full check decides (5.0 refuses it as a protocol error),
  // so the broker's answer does not depend on which decoder read the frame.
  if (messageId === 0) return undefined;
  return { cmd, messageId, length: 2 } as PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket;
}
