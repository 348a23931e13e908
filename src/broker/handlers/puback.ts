/** PUBACK from the client ends a QoS 1 delivery to it. */
import type { PubackPacket } from '../../protocol/index.js';
import type { Connection } from '../connection.js';

export function handlePuback(connection: Connection, packet: PubackPacket): void {
  // An unknown id is ignored: it may be a late ack of a delivery already completed.
  connection.session!.acknowledge(packet.messageId!);
}
