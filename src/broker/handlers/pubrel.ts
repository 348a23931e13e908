/**
 * PUBREL from the client releases a QoS 2 message it published: forget its id and answer PUBCOMP
 * once that is committed, so a resend after a crash is still recognised until then.
 */
import { ReasonCode, type PubrelPacket } from '../../protocol/index.js';
import type { ClientConnection } from '../context.js';

export function handlePubrel(connection: ClientConnection, packet: PubrelPacket): void {
  const session = connection.session!;
  const packetId = packet.messageId!;
  const isKnown = session.releaseIncomingQos2(packetId);
  connection.broker.committer.afterCommit(() => {
    connection.send({
      cmd: 'pubcomp',
      messageId: packetId,
      reasonCode: isKnown ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound,
    });
  });
}
