/** PUBREC from the client: the QoS 2 delivery moves to its release step (PUBREL). */
import { MqttError, ReasonCode, type PubrecPacket } from '../../protocol/index.js';
import type { ClientConnection } from '../context.js';
import { pubrelUnknown } from '../replies.js';

export function handlePubrec(connection: ClientConnection, packet: PubrecPacket): void {
  const packetId = packet.messageId!;
  const isFailure = (packet.reasonCode ?? 0) >= 0x80;
  const session = connection.session!;
  const isKnown = session.received(packetId, isFailure);
  if (!isKnown && session.inflightQosOf(packetId) === 1) {
    // A QoS 1 delivery ends with PUBACK; PUBREC for its id is a protocol violation.
    throw new MqttError(ReasonCode.ProtocolError, `PUBREC for packet identifier ${packetId} of a QoS 1 delivery`);
  }
  if (!isKnown && !isFailure) {
    // A PUBREC below 0x80 is answered with PUBREL [5.0 MQTT-4.3.3-4] [3.1.1 MQTT-4.3.3-1], for an
    // unknown id too (5.0: reason 0x92 Packet Identifier not found), so the client's flow can end.
    connection.send(pubrelUnknown(packetId));
  }
}
