/** PUBACK from the client ends a QoS 1 delivery to it. */
import { MqttError, ReasonCode, type PubackPacket } from '../../protocol/index.js';
import type { ClientConnection } from '../context.js';

export function handlePuback(connection: ClientConnection, packet: PubackPacket): void {
  const packetId = packet.messageId!;
  // An unknown id is ignored: it may be a late ack of a delivery already completed.
  const session = connection.session!;
  if (session.acknowledge(packetId)) return;
  if (session.inflightQosOf(packetId) === 2) {
    // A QoS 2 delivery is answered with PUBREC, never PUBACK.
    throw new MqttError(ReasonCode.ProtocolError, `PUBACK for packet identifier ${packetId} of a QoS 2 delivery`);
  }
}
