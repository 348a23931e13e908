/**
 * PUBREL from the client releases a QoS 2 message it published: forget its id and answer PUBCOMP
 * once that is committed, so a resend after a crash is still recognised until then.
 */
import { ReasonCode, type PubrelPacket } from '../../protocol/index.js';
import type { Connection } from '../connection.js';

export function handlePubrel(connection: Connection, packet: PubrelPacket): void {
  const session = connection.session!;
  const packetId = packet.messageId!;
  const isKnown = session.incomingQos2.delete(packetId);
  if (isKnown) session.persist({ type: 'deleteIncomingQos2', clientId: session.clientId, packetId });
  connection.broker.committer.afterCommit(() => {
    connection.send({
      cmd: 'pubcomp',
      messageId: packetId,
      reasonCode: isKnown ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound,
    });
  });
}
