/**
 * The one way in for a client's bytes: a whole frame in, a packet or a reason-coded MqttError out.
 * Which decoder runs is decided here: the hand-written one (frames.ts) takes the frequent plain
 * PUBLISH and the 4-byte acks when the connection allows it, everything else is checked against
 * the rules mqtt-packet does not enforce (validate.ts) and decoded by mqtt-packet. The hand
 * decoder returns either nothing or exactly what mqtt-packet would (test/protocol/decoder.test.ts).
 */
import { decodePlainAck, decodePlainPublish } from './frames.js';
import { FullFrameDecoder } from './full-decoder.js';
import type { Packet, ProtocolVersion } from './packets.js';
import { MqttError, reasonCodeForParserError } from './reasons.js';
import { checkClientFrame, connectProtocolLevel } from './validate.js';

/** PUBLISH's packet type in the high nibble of the first byte. */
const PUBLISH_TYPE = 0x30;

/**
 * The hand decoder's one entry: a plain PUBLISH or 4-byte ack, or undefined for anything it leaves
 * to the full path. Whatever it returns, mqtt-packet returns too (the differential test's claim).
 */
export function decodeFrequent(frame: Buffer, version: ProtocolVersion): Packet | undefined {
  const ack = decodePlainAck(frame);
  if (ack) return ack;
  return (frame[0]! & 0xf0) === PUBLISH_TYPE ? decodePlainPublish(frame, version) : undefined;
}

export class PacketDecoder {
  /** One per broker: see full-decoder.ts for why it can be shared. */
  private readonly full = new FullFrameDecoder();

  /** The version a CONNECT frame announces (3, 4 or 5), which its own rules and our answer follow. */
  connectVersion(frame: Buffer): ProtocolVersion | undefined {
    return connectProtocolLevel(frame);
  }

  /**
   * Decodes one whole frame as `version` speaks it. `mayTakeFastPath`: the connection is connected
   * and holds no packets back; only then may the hand decoder answer (the plain fast path never
   * overtakes packets waiting in order, and before CONNACK every frame gets the full check).
   */
  decode(frame: Buffer, version: ProtocolVersion, mayTakeFastPath: boolean): Packet | MqttError {
    if (mayTakeFastPath) {
      const plain = decodeFrequent(frame, version);
      if (plain) return plain;
    }
    return this.decodeFully(frame, version);
  }

  /**
   * The full check and mqtt-packet. Kept out of `decode` so that `decode` stays small enough for
   * V8 to inline it into the connection's per-packet path, the full path's bytecode not counted
   * against that caller's inlining budget (a fresh broker's first messages pay for the compiles).
   */
  private decodeFully(frame: Buffer, version: ProtocolVersion): Packet | MqttError {
    const violation = checkClientFrame(frame, version);
    if (violation) return new MqttError(violation.reasonCode, violation.message);
    const decoded = this.full.decode(frame, version);
    return decoded instanceof Error ? new MqttError(reasonCodeForParserError(decoded.message), decoded.message) : decoded;
  }
}
