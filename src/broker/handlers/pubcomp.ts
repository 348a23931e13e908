/** PUBCOMP from the client ends a QoS 2 delivery to it. */
import type { PubcompPacket } from '../../protocol/index.js';
import type { Connection } from '../connection.js';

export function handlePubcomp(connection: Connection, packet: PubcompPacket): void {
  connection.session!.completed(packet.messageId!);
}
