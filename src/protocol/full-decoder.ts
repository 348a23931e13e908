/**
 * mqtt-packet behind the decoder (decoder.ts) for what the hand-written fast path (frames.ts)
 * leaves: a whole frame in, a packet or an error out, through one parser shared by every
 * connection of a broker. Why shared: a parser per connection was 1.6 KB of each idle connection's ~16 KB. Safe
 * because each frame is whole — the parser emits its packet (or error) before `parse` returns
 * and keeps nothing between calls — and because the protocol version it decodes with is set for
 * each frame.
 */
import mqttPacket, { type Packet, type Parser } from 'mqtt-packet';
import type { ProtocolVersion } from './packets.js';

/** The parser's settings per version; decoding a CONNECT replaces them with the packet itself. */
const SETTINGS: Record<ProtocolVersion, { protocolVersion: ProtocolVersion }> = {
  3: { protocolVersion: 3 },
  4: { protocolVersion: 4 },
  5: { protocolVersion: 5 },
};

export class FullFrameDecoder {
  private parser!: Parser;
  private decoded: Packet | undefined;
  private failure: Error | undefined;

  constructor() {
    this.renew();
  }

  /** Decodes one whole frame as `version` speaks it (before CONNECT, any: CONNECT says its own). */
  decode(frame: Buffer, version: ProtocolVersion): Packet | Error {
    this.decoded = undefined;
    this.failure = undefined;
    (this.parser as unknown as { settings: object }).settings = SETTINGS[version];
    const leftover = this.parser.parse(frame);
    if (this.failure) {
      this.renew();
      return this.failure;
    }
    if (!this.decoded || leftover > 0) {
      // The frame's own lengths disagree with its Remaining Length: the rest must not be kept
      // for the next frame (another connection's).
      this.renew();
      return new Error('Malformed packet: lengths inside the packet do not match its Remaining Length');
    }
    return this.decoded;
  }

  /** A fresh parser: after an error the old one may hold a half-read packet. */
  private renew(): void {
    const parser = mqttPacket.parser();
    parser.on('packet', (packet: Packet) => (this.decoded ??= packet));
    parser.on('error', (error: Error) => (this.failure ??= error));
    this.parser = parser;
  }
}
