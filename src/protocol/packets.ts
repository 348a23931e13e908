/** Version-aware encode/decode over mqtt-packet, and the packet types the rest of Midge uses. */
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';

export type {
  Packet,
  Parser,
  QoS,
  IConnectPacket as ConnectPacket,
  IConnackPacket as ConnackPacket,
  IPublishPacket as PublishPacket,
  IPubackPacket as PubackPacket,
  IPubrecPacket as PubrecPacket,
  IPubrelPacket as PubrelPacket,
  IPubcompPacket as PubcompPacket,
  ISubscribePacket as SubscribePacket,
  ISubackPacket as SubackPacket,
  IUnsubscribePacket as UnsubscribePacket,
  IUnsubackPacket as UnsubackPacket,
  IDisconnectPacket as DisconnectPacket,
  IAuthPacket as AuthPacket,
  UserProperties,
} from 'mqtt-packet';

/** Protocol level byte of CONNECT: 3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0. */
export type ProtocolVersion = 3 | 4 | 5;

/** One encoder options object per version, so the hot path allocates none. */
const ENCODE_OPTIONS: Record<ProtocolVersion, { protocolVersion: ProtocolVersion }> = {
  3: { protocolVersion: 3 },
  4: { protocolVersion: 4 },
  5: { protocolVersion: 5 },
};

// mqtt-packet otherwise fills a cache of 65,536 two-byte Buffers (~6 MB of heap) on its first
// encode, to write packet ids and lengths: the packets it still encodes here (SUBACK, MQTT 5
// CONNACK, packets with properties) are not per-message, so the broker writes those numbers
// when needed instead. Every encode in the process shares the module, so a bundled or embedded
// MQTT client (the bridge) goes the same way.
mqttPacket.writeToStream.cacheNumbers = false;

export function encodePacket(packet: Packet, protocolVersion: ProtocolVersion): Buffer {
  return mqttPacket.generate(packet, ENCODE_OPTIONS[protocolVersion]);
}

/** Session Expiry Interval value that means "never expires" (MQTT 5 3.1.2.11.2). */
export const SESSION_NEVER_EXPIRES = 0xffffffff;
/** Largest value a Remaining Length can encode (spec 2.2.3), the default maximum packet size. */
export const MAX_REMAINING_LENGTH = 268_435_455;
