/** PUBCOMP from the client ends a QoS 2 delivery to it. */
import { MqttError, ReasonCode, type PubcompPacket } from '../../protocol/index.js';
import type { ClientConnection } from '../context.js';

export function handlePubcomp(connection: ClientConnection, packet: PubcompPacket): void {
  const packetId = packet.messageId!;
  const session = connection.session!;
  if (!session.completed(packetId) && session.inflightQosOf(packetId) === 1) {
    // A QoS 1 delivery ends with PUBACK; PUBCOMP for its id is a protocol violation.
    throw new MqttError(ReasonCode.ProtocolError, `PUBCOMP for packet identifier ${packetId} of a QoS 1 delivery`);
  }
}
