/**
 * The one way out: every packet the broker writes to a client is encoded here. Which encoder runs
 * is decided here too: the hand-written one (fast-encode.ts) for acknowledgements without
 * properties and PUBLISH without properties, mqtt-packet for the rest. A QoS 0 PUBLISH without an
 * alias is encoded once per message and variant, however many subscribers it fans out to.
 */
import {
  AckType,
  encodeAck,
  encodeAckWithReason,
  encodeConnackV4,
  encodePublish,
  encodePublishWithAlias,
} from './fast-encode.js';
import { encodePacket, type Packet, type ProtocolVersion, type PublishPacket, type QoS } from './packets.js';

/** What a delivery carries (a store OutgoingRecord fits this shape). */
export interface Delivery {
  readonly message: DeliveredMessage;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly packetId?: number;
  readonly subscriptionIds?: number[];
}

export interface DeliveredMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly properties?: NonNullable<PublishPacket['properties']>;
  /** Epoch ms at which the message expires (MQTT 5 message expiry). */
  readonly expiresAt?: number;
}

export class PacketEncoder {
  /** Encoded QoS 0 PUBLISH per message (index: MQTT 5 ? 2 : 0, + retain): encode once per fan-out. */
  readonly plainQos0Encodings = new WeakMap<DeliveredMessage, Buffer[]>();

  /** `now` is the broker's clock: a forwarded message expiry is what is left of it. */
  constructor(private readonly now: () => number) {}

  /**
   * Any packet but a delivery, in the smallest form the client accepts: over its Maximum Packet
   * Size, the reason string and user properties are dropped first [5.0 MQTT-3.2.2-19]
   * [5.0 MQTT-3.2.2-20] [5.0 MQTT-3.14.2-3] [5.0 MQTT-3.14.2-4]. The result may still be too
   * large; the caller decides what that means.
   */
  encodeReply(packet: Packet, version: ProtocolVersion, maximumPacketSize: number): Buffer {
    if (isAckWithoutProperties(packet)) {
      const reasonCode = packet.reasonCode ?? 0;
      // 3.1.1 acknowledgements have no reason code: always the 4-byte form there.
      const isPlain = reasonCode === 0 || version !== 5;
      return isPlain ? encodeAck(AckType[packet.cmd], packet.messageId!) : encodeAckWithReason(AckType[packet.cmd], packet.messageId!, reasonCode);
    }
    return this.encodeOtherReply(packet, version, maximumPacketSize);
  }

  /**
   * Every reply but a plain acknowledgement. Kept out of `encodeReply` so that the acknowledgement
   * path stays small enough for V8 to inline into its callers (see PacketDecoder.decodeFully).
   */
  private encodeOtherReply(packet: Packet, version: ProtocolVersion, maximumPacketSize: number): Buffer {
    if (packet.cmd === 'connack' && version !== 5) return encodeConnackV4(packet.sessionPresent === true, packet.returnCode ?? 0);
    const bytes = encodePacket(packet, version);
    if (bytes.length <= maximumPacketSize || !('properties' in packet) || !packet.properties) return bytes;
    const { reasonString: _reason, userProperties: _user, ...essential } = packet.properties as Record<string, unknown>;
    return encodePacket({ ...packet, properties: essential } as Packet, version);
  }

  /**
   * A PUBLISH of `delivery` for a client of `version`. `alias` as from OutgoingTopicAliases.lookup:
   * 0 none, > 0 known to the client (the topic is left out), < 0 to be defined by this PUBLISH.
   */
  encodeDelivery(delivery: Delivery, isDuplicate: boolean, version: ProtocolVersion, alias: number): Buffer {
    const message = delivery.message;
    return version !== 5 || (message.properties === undefined && message.expiresAt === undefined && delivery.subscriptionIds === undefined)
      ? this.encodePlainPublish(delivery, isDuplicate, version, alias)
      : this.encodePublishWithProperties(delivery, isDuplicate, version, alias);
  }

  private encodePlainPublish(delivery: Delivery, isDuplicate: boolean, version: ProtocolVersion, alias: number): Buffer {
    const message = delivery.message;
    if (alias !== 0) {
      const isKnown = alias > 0;
      const topic = isKnown ? '' : message.topic;
      return encodePublishWithAlias(topic, isKnown ? 0 : Buffer.byteLength(topic), Math.abs(alias), message.payload, delivery.qos, delivery.retain, isDuplicate, delivery.packetId ?? 0);
    }
    if (delivery.qos === 0) {
      const cache = this.plainQos0Encodings;
      let encodings = cache.get(message);
      if (!encodings) cache.set(message, (encodings = []));
      const variant = (version === 5 ? 2 : 0) + (delivery.retain ? 1 : 0);
      return (encodings[variant] ??= encodePublish(version, message.topic, Buffer.byteLength(message.topic), message.payload, 0, delivery.retain, false, 0));
    }
    return encodePublish(version, message.topic, Buffer.byteLength(message.topic), message.payload, delivery.qos, delivery.retain, isDuplicate, delivery.packetId!);
  }

  private encodePublishWithProperties(delivery: Delivery, isDuplicate: boolean, version: ProtocolVersion, alias: number): Buffer {
    const message = delivery.message;
    const packet: PublishPacket = {
      cmd: 'publish',
      topic: message.topic,
      payload: message.payload,
      qos: delivery.qos,
      retain: delivery.retain,
      dup: isDuplicate,
    };
    if (delivery.packetId !== undefined) packet.messageId = delivery.packetId;
    if (version === 5) {
      const properties: NonNullable<PublishPacket['properties']> = { ...message.properties };
      if (message.expiresAt !== undefined) {
        // The forwarded expiry is what is left of it [5.0 MQTT-3.3.2-6].
        properties.messageExpiryInterval = Math.max(0, Math.ceil((message.expiresAt - this.now()) / 1000));
      }
      if (delivery.subscriptionIds) properties.subscriptionIdentifier = delivery.subscriptionIds.length === 1 ? delivery.subscriptionIds[0]! : delivery.subscriptionIds;
      if (alias !== 0) {
        properties.topicAlias = Math.abs(alias);
        if (alias > 0) packet.topic = '';
      }
      packet.properties = properties;
    }
    return encodePacket(packet, version);
  }
}

/** An acknowledgement without properties: 4 bytes (Success, or any 3.1.1 ack) or 5 (5.0 with a reason code). */
function isAckWithoutProperties(packet: Packet): packet is Packet & { cmd: keyof typeof AckType; reasonCode?: number } {
  return (packet.cmd === 'puback' || packet.cmd === 'pubrec' || packet.cmd === 'pubrel' || packet.cmd === 'pubcomp') && packet.properties === undefined;
}
