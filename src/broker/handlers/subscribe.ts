/**
 * SUBSCRIBE → SUBACK: validate each filter, record the subscription, answer once it is committed,
 * then send the retained messages it matches (with Retain set) [3.1.1 MQTT-3.3.1-6]
 * [3.1.1 MQTT-3.3.1-8] [5.0 MQTT-3.3.1-9].
 */
import { MqttError, ReasonCode, type QoS, type SubscribePacket } from '../../protocol/index.js';
import type { SubscriptionRecord } from '../../store/index.js';
import { isValidTopicFilter, parseSharedFilter } from '../../topics/index.js';
import type { ClientConnection } from '../context.js';
import { closeAfterStoreFailure, suback, subackFailure } from '../replies.js';
import { isWithinTopicLimits } from '../topic-limits.js';
import { authorize } from '../authorize.js';

export function handleSubscribe(connection: ClientConnection, packet: SubscribePacket): void {
  const broker = connection.broker;
  const version = connection.protocolVersion;
  const subscriptionId = version === 5 ? packet.properties?.subscriptionIdentifier : undefined;
  if (subscriptionId === 0) {
    // A Subscription Identifier of 0 is a Protocol Error: 5.0 section 3.8.2.1.2 says so in a
    // sentence the spec gives no statement id (none in ../shared/spec/mqtt-5.0-statements.tsv).
    throw new MqttError(ReasonCode.ProtocolError, 'subscription identifier 0');
  }
  if (packet.subscriptions.length === 0) {
    // [3.1.1 MQTT-3.8.3-3] [5.0 MQTT-3.8.3-2] at least one filter (an empty SUBACK cannot even be encoded).
    throw new MqttError(ReasonCode.ProtocolError, 'SUBSCRIBE without a topic filter');
  }
  // Each valid filter's authorization first: when one answer is still to come (an HTTP service's,
  // not cached), the SUBSCRIBE and this client's later packets wait for all of them.
  const identity = { clientId: connection.clientId, username: connection.username };
  let isPending = false;
  const decisions = packet.subscriptions.map((request) => {
    if (!isValidTopicFilter(request.topic)) return false;
    const decision = authorize(broker.authorizer, identity, 'subscribe', request.topic);
    if (typeof decision !== 'boolean') isPending = true;
    return decision;
  });
  if (isPending) {
    connection.continueAfter(Promise.all(decisions), (allowed) => subscribeAuthorized(connection, packet, allowed));
    return;
  }
  subscribeAuthorized(connection, packet, decisions as boolean[]);
}

function subscribeAuthorized(connection: ClientConnection, packet: SubscribePacket, allowed: readonly boolean[]): void {
  const broker = connection.broker;
  const session = connection.session!;
  const version = connection.protocolVersion;
  const subscriptionId = version === 5 ? packet.properties?.subscriptionIdentifier : undefined;
  const codes: number[] = [];
  const retainedToSend: Array<{ subscription: SubscriptionRecord }> = [];
  for (const [index, request] of packet.subscriptions.entries()) {
    const filter = request.topic;
    if (!isValidTopicFilter(filter) || !isWithinTopicLimits(filter, broker.config.limits)) {
      codes.push(subackFailure(version, ReasonCode.TopicFilterInvalid));
      continue;
    }
    const isShared = parseSharedFilter(filter) !== undefined;
    // Durable queues: `$queue/<name>` must name a configured queue (src/queues/).
    const isQueue = broker.router.queues?.isQueueFilter(filter) === true;
    if (isQueue && !broker.router.queues!.hasQueue(filter)) {
      codes.push(subackFailure(version, ReasonCode.TopicFilterInvalid));
      continue;
    }
    if (isShared && version === 5 && request.nl === true) {
      // [5.0 MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
      throw new MqttError(ReasonCode.ProtocolError, 'No Local set on a shared subscription');
    }
    if (!allowed[index]) {
      codes.push(subackFailure(version, ReasonCode.NotAuthorized));
      continue;
    }
    const subscription: SubscriptionRecord = {
      filter,
      qos: request.qos as QoS,
      noLocal: version === 5 && request.nl === true,
      retainAsPublished: version === 5 && request.rap === true,
      retainHandling: (version === 5 ? (request.rh ?? 0) : 0) as 0 | 1 | 2,
    };
    if (subscriptionId !== undefined) subscription.subscriptionId = subscriptionId;
    if (!session.subscriptions.has(filter) && session.subscriptions.size >= broker.config.limits.maxSubscriptionsPerClient) {
      codes.push(subackFailure(version, ReasonCode.QuotaExceeded));
      continue;
    }
    // [3.1.1 MQTT-3.8.4-3] [5.0 MQTT-3.8.4-3] an identical filter replaces the existing subscription.
    const isNew = session.setSubscription(subscription);
    broker.router.addSubscription(session.clientId, subscription);
    codes.push(subscription.qos);
    // Retained messages are not sent on a shared subscription (5.0 sections 3.8.4 and 4.8.2), nor on a queue's.
    if (!isShared && !isQueue && (subscription.retainHandling === 0 || (subscription.retainHandling === 1 && isNew))) {
      retainedToSend.push({ subscription });
    }
  }
  const packetId = packet.messageId!;
  broker.committer.afterCommit((error) => {
    if (connection.isClosed) return;
    if (error) return closeAfterStoreFailure(connection, 'SUBACK');
    connection.send(suback(packetId, codes));
    for (const { subscription } of retainedToSend) {
      for (const { value: message } of broker.router.retained.match(subscription.filter)) {
        const qos = (message.qos < subscription.qos ? message.qos : subscription.qos) as QoS;
        const ids = subscription.subscriptionId === undefined ? undefined : [subscription.subscriptionId];
        session.deliver(message, qos, true, ids);
      }
    }
  });
}
