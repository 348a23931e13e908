/**
 * PUBLISH from a client: validate, authorize, route, and acknowledge QoS 1/2 only after the
 * batch holding the message's effects has committed (acknowledged = on disk).
 */
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { MqttError, ReasonCode, type PublishPacket } from '../../protocol/index.js';
import type { Message, MessageProperties } from '../../store/index.js';
import { isValidTopicName } from '../../topics/index.js';
import type { ClientConnection } from '../context.js';
import { isWithinTopicLimits } from '../topic-limits.js';
import { closeAfterStoreFailure, publishAck } from '../replies.js';
import type { QuotaVerdict, Router } from '../router.js';
import { reservedTopicFailure } from './publish-checks.js';
import { authorize } from '../authorize.js';

export function handlePublish(connection: ClientConnection, packet: PublishPacket): void {
  const broker = connection.broker;
  const version = connection.protocolVersion;
  const qos = packet.qos;
  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
  // Counted on receipt, refused or not (as before): the one ingest count (BrokerStats.countReceived).
  broker.stats.countReceived(qos, payload.length);

  const topic = resolveTopic(connection, packet);
  broker.topicRates.count(topic);
  if (qos === 0 && packet.dup) {
    // [3.1.1 MQTT-3.3.1-2] [5.0 MQTT-3.3.1-2] DUP must be 0 for QoS 0.
    throw new MqttError(ReasonCode.ProtocolError, 'DUP set on a QoS 0 PUBLISH');
  }
  if (qos > broker.config.limits.maximumQoS) {
    // [5.0 MQTT-3.2.2-11] a QoS above the Maximum QoS we announced.
    throw new MqttError(ReasonCode.QoSNotSupported, `QoS ${qos} is above the maximum ${broker.config.limits.maximumQoS}`);
  }

  connection.throttlePublish(payload.length);
  const message: Message = { topic, payload, qos, retain: packet.retain };
  let failure: number | undefined;
  if (version === 5 && packet.properties) {
    const { topicAlias: _alias, subscriptionIdentifier, messageExpiryInterval, ...forwarded } = packet.properties;
    if (subscriptionIdentifier !== undefined) {
      // [5.0 MQTT-3.3.4-6] a client must not send a Subscription Identifier.
      throw new MqttError(ReasonCode.ProtocolError, 'PUBLISH from a client carries a subscription identifier');
    }
    if (messageExpiryInterval !== undefined) message.expiresAt = broker.now() + messageExpiryInterval * 1000;
    const properties: MessageProperties = forwarded;
    if (messageExpiryInterval !== undefined) properties.messageExpiryInterval = messageExpiryInterval;
    if (hasAny(properties)) message.properties = properties;
    if (properties.payloadFormatIndicator === true && !isUtf8(payload)) {
      // A payload announced as UTF-8 that is not: refused with 0x99 (5.0 section 3.3.2.3.2 allows
      // the check in a sentence without a statement id).
      failure = ReasonCode.PayloadFormatInvalid;
    }
  }
  failure ??= reservedTopicFailure(connection, topic);
  if (failure === undefined) {
    const isAllowed = authorize(broker.authorizer, { clientId: connection.clientId, username: connection.username }, 'publish', topic);
    if (typeof isAllowed !== 'boolean') {
      // The answer is not cached: this client's later packets wait for it, so their order is kept.
      connection.continueAfter(isAllowed, (allowed) => finishPublish(connection, packet, message, allowed ? undefined : ReasonCode.NotAuthorized));
      return;
    }
    if (!isAllowed) failure = ReasonCode.NotAuthorized;
  }
  finishPublish(connection, packet, message, failure);
}

/** Routes (unless refused) and acknowledges: QoS 1/2 only after the commit holding its effects. */
function finishPublish(connection: ClientConnection, packet: PublishPacket, message: Message, failure: number | undefined): void {
  const broker = connection.broker;
  const session = connection.session!;
  const version = connection.protocolVersion;
  const qos = packet.qos;
  if (qos === 0) {
    if (failure === undefined && broker.router.route(message, connection.clientId) === 0 && broker.router.lastRefusedByQuota > 0) connection.yieldTurn();
    return;
  }
  const packetId = packet.messageId!;
  // Flow control: we announced a Receive Maximum; a client exceeding it is disconnected
  // [5.0 MQTT-3.3.4-7]. Counted: QoS 1 awaiting our PUBACK + QoS 2 awaiting PUBREL.
  if (version === 5 && connection.unackedIncoming + session.incomingQos2Count >= broker.config.limits.receiveMaximum && !session.hasIncomingQos2(packetId)) {
    throw new MqttError(ReasonCode.ReceiveMaximumExceeded, 'more unacknowledged QoS 1/2 PUBLISH than Receive Maximum');
  }
  if (qos === 1) {
    const opsBefore = broker.committer.addedCount;
    const delivered = failure === undefined ? broker.router.route(message, connection.clientId) : 0;
    const reasonCode = failure ?? routedReasonCode(broker.router, delivered);
    const verdict = failure === undefined ? broker.router.lastQuotaVerdict : undefined;
    if (reasonCode === ReasonCode.QuotaExceeded) connection.yieldTurn();
    if (broker.committer.addedCount === opsBefore && connection.unackedIncoming === 0) {
      // Nothing of this message is to be stored (its subscribers' sessions end with their
      // connections), and no earlier PUBACK of this client is waiting: acknowledge at once rather
      // than after a commit that holds nothing of it — one event-loop phase less per round trip.
      connection.send(publishAck(connection, 'puback', packetId, reasonCode));
      return;
    }
    connection.unackedIncoming++;
    broker.committer.afterCommit((error) => {
      connection.unackedIncoming--;
      if (error) return closeAfterStoreFailure(connection, 'PUBACK');
      connection.send(publishAck(connection, 'puback', packetId, verdict?.isRefused === true ? ReasonCode.QuotaExceeded : reasonCode));
    });
    return;
  }
  if (failure === undefined && broker.router.hasIdempotentQos2) return finishQos2Idempotently(connection, message, packetId);
  // QoS 2: a PUBLISH whose id awaits PUBREL is a resend of one already routed [3.1.1 MQTT-4.3.3-2] [5.0 MQTT-4.3.3-10].
  let reasonCode: number = failure ?? ReasonCode.Success;
  if (!session.hasIncomingQos2(packetId) && failure === undefined) {
    reasonCode = routedReasonCode(broker.router, broker.router.route(message, connection.clientId));
    if (reasonCode === ReasonCode.QuotaExceeded) connection.yieldTurn();
    session.rememberIncomingQos2(packetId);
  }
  broker.committer.afterCommit((error) => {
    if (error) return closeAfterStoreFailure(connection, 'PUBREC');
    connection.send(publishAck(connection, 'pubrec', packetId, reasonCode));
  });
}

/**
 * QoS 2 in cluster mode (cluster-design.md "QoS 2 inbound"): the incoming record, with a routing
 * id, commits before the message is routed under that id; PUBREC follows the routing's commit.
 * Routing under one id makes one copy: the engine drops a second inbox message of it, a session
 * skips a publication it took already. So a resend whose record was read from the store (its
 * first node died before PUBREC, maybe before routing it) is routed again — whatever of the
 * first routing was stored is not delivered twice, whatever was not is delivered now. A resend
 * of one routed here only waits for that routing [3.1.1 MQTT-4.3.3-2] [5.0 MQTT-4.3.3-10].
 */
function finishQos2Idempotently(connection: ClientConnection, message: Message, packetId: number): void {
  const { router, committer } = connection.broker;
  const session = connection.session!;
  // A cluster queue's refusal at its bound (overflow reject) is known after the commit: its verdict.
  const sendPubrec = (reasonCode: number, verdict?: QuotaVerdict) => (error: Error | undefined) => {
    if (error) return closeAfterStoreFailure(connection, 'PUBREC');
    connection.send(publishAck(connection, 'pubrec', packetId, verdict?.isRefused === true ? ReasonCode.QuotaExceeded : reasonCode));
  };
  if (!session.hasIncomingQos2(packetId)) {
    const routingId = newRoutingId();
    session.rememberIncomingQos2(packetId, routingId);
    committer.afterCommit((error) => {
      if (error) {
        session.markIncomingForReroute(packetId);
        return closeAfterStoreFailure(connection, 'PUBREC');
      }
      const reasonCode = routedReasonCode(router, router.route({ ...message, routingId }, connection.clientId));
      committer.afterCommit(sendPubrec(reasonCode, router.lastQuotaVerdict));
    });
    return;
  }
  const routingId = session.takeIncomingReroute(packetId);
  if (routingId !== undefined) {
    const reasonCode = routedReasonCode(router, router.reroute({ ...message, routingId }, connection.clientId));
    committer.afterCommit(sendPubrec(reasonCode));
    return;
  }
  // Its routing may still wait for its record's commit: the PUBREC comes after that routing's.
  committer.afterCommit(() => committer.afterCommit(sendPubrec(ReasonCode.Success)));
}

/** Unique across nodes and restarts (a routing id is stored, and compared, for minutes). */
function newRoutingId(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * Success, 0x10 when no session matched, or 0x97 Quota exceeded when every matching session's
 * queue bound refused it (3.1.1 clients get a plain PUBACK: the reason code is dropped there).
 */
function routedReasonCode(router: Router, delivered: number): number {
  if (delivered > 0) return ReasonCode.Success;
  return router.lastRefusedByQuota > 0 ? ReasonCode.QuotaExceeded : ReasonCode.NoMatchingSubscribers;
}

/** MQTT 5 topic aliases: a known alias supplies the topic; a topic with an alias (re)defines it. */
function resolveTopic(connection: ClientConnection, packet: PublishPacket): string {
  const alias = packet.properties?.topicAlias;
  if (alias !== undefined && connection.protocolVersion === 5) {
    if (alias === 0 || alias > connection.broker.config.limits.topicAliasMaximum) {
      // [5.0 MQTT-3.3.2-8] [5.0 MQTT-3.3.2-9] alias 0 or above our maximum.
      throw new MqttError(ReasonCode.TopicAliasInvalid, `topic alias ${alias} out of range`);
    }
    if (packet.topic === '') {
      const topic = connection.topicAliases.get(alias);
      if (topic === undefined) throw new MqttError(ReasonCode.ProtocolError, `unknown topic alias ${alias}`);
      return topic;
    }
    if (!isValidTopicName(packet.topic) || !isWithinTopicLimits(packet.topic, connection.broker.config.limits)) {
      throw new MqttError(ReasonCode.TopicNameInvalid, 'invalid topic name');
    }
    connection.topicAliases.set(alias, packet.topic);
    return packet.topic;
  }
  if (!isValidTopicName(packet.topic)) {
    // [3.1.1 MQTT-3.3.2-2] [5.0 MQTT-3.3.2-2] no wildcards in a topic name; 3.1.1 clients are disconnected.
    throw new MqttError(ReasonCode.TopicNameInvalid, 'invalid topic name');
  }
  if (!isWithinTopicLimits(packet.topic, connection.broker.config.limits)) {
    throw new MqttError(ReasonCode.TopicNameInvalid, 'topic longer or deeper than the configured limits');
  }
  return packet.topic;
}

function hasAny(properties: object): boolean {
  for (const _ in properties) return true;
  return false;
}
