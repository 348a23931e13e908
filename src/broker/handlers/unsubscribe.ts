/** UNSUBSCRIBE → UNSUBACK: remove each filter [3.1.1 MQTT-3.10.4-1] [5.0 MQTT-3.10.4-1]; the ack waits for the commit. */
import { MqttError, ReasonCode, type UnsubscribePacket } from '../../protocol/index.js';
import { isValidTopicFilter, parseSharedFilter } from '../../topics/index.js';
import type { ClientConnection } from '../context.js';
import { unsuback } from '../replies.js';

export function handleUnsubscribe(connection: ClientConnection, packet: UnsubscribePacket): void {
  const broker = connection.broker;
  const session = connection.session!;
  if (packet.unsubscriptions.length === 0) {
    // [3.1.1 MQTT-3.10.3-2] [5.0 MQTT-3.10.3-2] at least one filter (an empty UNSUBACK cannot even be encoded for 5.0).
    throw new MqttError(ReasonCode.ProtocolError, 'UNSUBSCRIBE without a topic filter');
  }
  const codes: number[] = [];
  for (const filter of packet.unsubscriptions) {
    if (!isValidTopicFilter(filter)) {
      codes.push(ReasonCode.TopicFilterInvalid);
      continue;
    }
    const existed = session.deleteSubscription(filter);
    if (existed) {
      broker.router.removeSubscription(session.clientId, filter);
      const shared = parseSharedFilter(filter);
      // What this member was given by the group and has not started on goes to another member.
      if (shared) broker.router.redistributeShared(session, `${shared.group}/${shared.filter}`);
    }
    codes.push(existed ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted);
  }
  const packetId = packet.messageId!;
  broker.committer.afterCommit(() => {
    connection.send(unsuback(packetId, codes));
  });
}
