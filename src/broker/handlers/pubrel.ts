/**
 * PUBREL from the client releases a QoS 2 message it published: forget its id and answer PUBCOMP
 * once that is committed, so a resend after a crash is still recognised until then.
 */
import type { PubrelPacket } from '../../protocol/index.js';
import type { ClientConnection } from '../context.js';
import { pubcomp } from '../replies.js';

export function handlePubrel(connection: ClientConnection, packet: PubrelPacket): void {
  const session = connection.session!;
  const packetId = packet.messageId!;
  const isKnown = session.releaseIncomingQos2(packetId);
  connection.broker.committer.afterCommit(() => connection.send(pubcomp(packetId, isKnown)));
}
