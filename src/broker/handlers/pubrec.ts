/** PUBREC from the client: the QoS 2 delivery moves to its release step (PUBREL). */
import { ReasonCode, type PubrecPacket } from '../../protocol/index.js';
import type { Connection } from '../connection.js';

export function handlePubrec(connection: Connection, packet: PubrecPacket): void {
  const packetId = packet.messageId!;
  const isFailure = (packet.reasonCode ?? 0) >= 0x80;
  if (!connection.session!.received(packetId, isFailure) && !isFailure) {
    // [MQTT-4.3.3-?] answer an unknown id with PUBREL (5.0: 0x92) so the client's flow can end.
    connection.send({ cmd: 'pubrel', messageId: packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
  }
}
