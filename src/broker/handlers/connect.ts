/**
 * CONNECT → CONNACK: protocol checks, client identifier rules, authentication, session takeover
 * and resumption. The CONNACK goes out once the session record is committed.
 */
import { randomBytes } from 'node:crypto';
import {
  encodePacket,
  MqttError,
  OutgoingTopicAliases,
  ReasonCode,
  SESSION_NEVER_EXPIRES,
  toConnackReturnCodeV3,
  type ConnackPacket,
  type ConnectPacket,
  type ProtocolVersion,
  type QoS,
} from '../../protocol/index.js';
import type { WillRecord } from '../../store/index.js';
import { isValidTopicName } from '../../topics/index.js';
import { isWithinTopicLimits } from '../topic-limits.js';
import type { ClientConnection } from '../context.js';
import { KeepAliveMonitor } from '../keepalive.js';

/** MQTT 3.1 allowed client identifiers of 1 to 23 characters only. */
const MQTT31_MAX_CLIENT_ID = 23;

export function handleConnect(connection: ClientConnection, packet: ConnectPacket): void {
  if (connection.state !== 'awaiting-connect') {
    // A second CONNECT is a protocol violation [MQTT-3.1.0-2].
    throw new MqttError(ReasonCode.ProtocolError, 'second CONNECT on one connection');
  }
  const version = (packet.protocolVersion ?? 4) as ProtocolVersion;
  connection.protocolVersion = version;
  connection.state = 'connecting';
  connection.holdPackets();
  const properties = packet.properties ?? {};
  if (version === 5) {
    connection.wantsProblemInformation = properties.requestProblemInformation !== false;
    if (properties.maximumPacketSize !== undefined) connection.clientMaximumPacketSize = properties.maximumPacketSize;
    // Outgoing topic aliases only for a client that asked for them [5.0 MQTT-3.1.2-27], never more than it accepts [5.0 MQTT-3.1.2-26].
    const aliasMaximum = Math.min(properties.topicAliasMaximum ?? 0, connection.broker.config.limits.outgoingTopicAliasMaximum);
    if (aliasMaximum > 0) connection.outgoingAliases = new OutgoingTopicAliases(aliasMaximum);
  }

  const broker = connection.broker;
  if (broker.connectRateLimiter && !broker.connectRateLimiter.tryTake(connection.remoteHost)) {
    broker.stats.connectsRateLimited++;
    return refuse(connection, ReasonCode.ConnectionRateExceeded, 'connect rate per address exceeded');
  }

  let clientId = packet.clientId ?? '';
  let assignedClientId: string | undefined;
  const isCleanStart = packet.clean !== false;
  if (clientId === '') {
    if (version === 4 && !isCleanStart) {
      // [MQTT-3.1.3-8] empty id with CleanSession=0: CONNACK 0x02, then close.
      return refuse(connection, ReasonCode.ClientIdentifierNotValid, 'empty client id requires a clean session');
    }
    if (version === 3) {
      return refuse(connection, ReasonCode.ClientIdentifierNotValid, 'MQTT 3.1 requires a client id');
    }
    // [MQTT-3.1.3-6] the server assigns a unique id; MQTT 5 tells the client [MQTT-3.2.2-16].
    clientId = `midge-${randomBytes(9).toString('base64url')}`;
    assignedClientId = clientId;
  } else if (version === 3 && clientId.length > MQTT31_MAX_CLIENT_ID) {
    return refuse(connection, ReasonCode.ClientIdentifierNotValid, 'MQTT 3.1 client ids are at most 23 characters');
  } else if (Buffer.byteLength(clientId) > broker.config.limits.maxClientIdLength) {
    // [MQTT-3.1.3-9] a client id we reject: CONNACK 0x02 (5.0: 0x85).
    return refuse(connection, ReasonCode.ClientIdentifierNotValid, 'client id too long');
  }
  if (clientId.startsWith('$bridge/') || clientId.startsWith('$connector/')) {
    // Reserved for Midge's own bridge and connector sessions, so no device can take one over.
    return refuse(connection, ReasonCode.ClientIdentifierNotValid, 'client ids starting with $bridge/ or $connector/ are reserved');
  }
  if (clientId.includes('\u0000') || clientId.includes('\uFFFD')) {
    return refuse(connection, ReasonCode.ClientIdentifierNotValid, 'client id is not valid UTF-8');
  }

  let will: WillRecord | undefined;
  if (packet.will) {
    if (!isValidTopicName(packet.will.topic) || !isWithinTopicLimits(packet.will.topic, broker.config.limits)) {
      // [MQTT-3.1.3-11] the will topic must be a valid topic name.
      throw new MqttError(version === 5 ? ReasonCode.TopicNameInvalid : ReasonCode.MalformedPacket, 'invalid will topic');
    }
    if ((packet.will.qos ?? 0) > connection.broker.config.limits.maximumQoS) {
      // [MQTT-3.2.2-12 (5.0)] a will QoS above what we support: CONNACK 0x9B.
      return refuse(connection, ReasonCode.QoSNotSupported, 'will QoS above the maximum QoS');
    }
    const willProperties = packet.will.properties ?? {};
    const { willDelayInterval, messageExpiryInterval, ...forwarded } = willProperties;
    const payload = packet.will.payload;
    will = {
      topic: packet.will.topic,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      qos: (packet.will.qos ?? 0) as QoS,
      retain: packet.will.retain === true,
      delayInterval: willDelayInterval ?? 0,
    };
    // Will message expiry counts from when the will is published, so it stays an interval here.
    if (version === 5) will.properties = messageExpiryInterval === undefined ? forwarded : { ...forwarded, messageExpiryInterval };
  }

  connection.clientId = clientId;
  connection.username = packet.username;
  const identity = connection.info.certificateIdentity;
  const isIdentifiedByCertificate = broker.config.auth.useIdentityAsUsername && identity !== undefined;
  // The verified client certificate is the credential: its CN (or SAN) becomes the user name.
  if (isIdentifiedByCertificate) connection.username = identity;
  const decision: ConnectDecision = { clientId, assignedClientId, isCleanStart, will };
  if (version === 5 && properties.authenticationMethod !== undefined) {
    startEnhancedAuth(connection, packet, properties.authenticationMethod, properties.authenticationData, decision);
    return;
  }
  void Promise.resolve(
    isIdentifiedByCertificate
      ? { isAccepted: true as const }
      : broker.authenticator.authenticate({
          clientId,
          username: packet.username,
          password: packet.password,
          remoteAddress: connection.remoteAddress,
          certificateIdentity: identity,
          listenerIndex: connection.info.listenerIndex,
        }),
  )
    .then(async (result) => {
      if (connection.isClosed) return;
      if (!result.isAccepted) return refuse(connection, result.reasonCode, 'authentication failed');
      await acceptConnect(connection, packet, decision);
    })
    .catch((error: unknown) => {
      broker.logger.error({ err: error, clientId }, 'CONNECT failed');
      if (!connection.isClosed) refuse(connection, ReasonCode.ServerUnavailable, 'server error');
    });
}

/** CONNECT with an Authentication Method: run the AUTH exchange, then accept (spec 4.12). */
function startEnhancedAuth(connection: ClientConnection, packet: ConnectPacket, method: string, data: Buffer | undefined, decision: ConnectDecision): void {
  const broker = connection.broker;
  const authenticator = broker.enhancedAuthenticators.get(method);
  if (!authenticator) return refuse(connection, ReasonCode.BadAuthenticationMethod, `authentication method ${method} not offered`);
  connection.authMethod = method;
  connection.readDuringAuthExchange();
  connection.authExchange = authenticator.begin({
    clientId: decision.clientId,
    username: packet.username,
    remoteAddress: connection.remoteAddress,
    listenerIndex: connection.info.listenerIndex,
    isReauthentication: false,
  });
  connection.onAuthSuccess = (finalData) => acceptConnect(connection, packet, decision, finalData);
  void continueEnhancedAuth(connection, data);
}

/** One step of an AUTH exchange, at CONNECT or on re-authentication. */
export async function continueEnhancedAuth(connection: ClientConnection, data: Buffer | undefined): Promise<void> {
  const broker = connection.broker;
  const exchange = connection.authExchange!;
  const isReauth = connection.state === 'connected';
  let step;
  try {
    step = await exchange.step(data);
  } catch (error) {
    broker.logger.error({ err: error, clientId: connection.clientId }, 'enhanced authentication failed with an error');
    step = { status: 'failure' as const, reasonCode: ReasonCode.UnspecifiedError };
  }
  if (connection.isClosed) return;
  const method = connection.authMethod!;
  if (step.status === 'continue') {
    connection.send({ cmd: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties: { authenticationMethod: method, authenticationData: step.data } });
    return;
  }
  connection.authExchange = undefined;
  if (step.status === 'failure') {
    const reasonCode = step.reasonCode ?? ReasonCode.NotAuthorized;
    if (isReauth) {
      // Failed re-authentication ends the connection [MQTT-4.12.1-2 context].
      connection.disconnectWithReason(reasonCode, 're-authentication failed');
      connection.destroy('connect-refused');
    } else {
      refuse(connection, reasonCode, 'enhanced authentication failed');
    }
    return;
  }
  if (isReauth) {
    const properties: { authenticationMethod: string; authenticationData?: Buffer } = { authenticationMethod: method };
    if (step.data) properties.authenticationData = step.data;
    connection.send({ cmd: 'auth', reasonCode: ReasonCode.Success, properties });
    return;
  }
  const accept = connection.onAuthSuccess;
  connection.onAuthSuccess = undefined;
  try {
    await accept?.(step.data);
  } catch (error) {
    broker.logger.error({ err: error, clientId: connection.clientId }, 'CONNECT failed');
    if (!connection.isClosed) refuse(connection, ReasonCode.ServerUnavailable, 'server error');
  }
}

interface ConnectDecision {
  clientId: string;
  assignedClientId: string | undefined;
  isCleanStart: boolean;
  will: WillRecord | undefined;
}

async function acceptConnect(connection: ClientConnection, packet: ConnectPacket, decision: ConnectDecision, authData?: Buffer): Promise<void> {
  const broker = connection.broker;
  const version = connection.protocolVersion;
  const { clientId, isCleanStart } = decision;
  const properties = packet.properties ?? {};

  if (broker.cluster) {
    // Cluster: the id is claimed on the engine first; its session, if on another node, moves here.
    const isOwner = await broker.cluster.claim(clientId, isCleanStart);
    if (connection.isClosed) return;
    if (!isOwner) return refuse(connection, ReasonCode.ServerBusy, 'another CONNECT with this client id won the race on another node');
  }

  // [MQTT-3.1.4-2] a client already connected with this id is disconnected (5.0: 0x8E).
  const existing = broker.clients.get(clientId);
  if (existing && existing !== connection) {
    existing.isTakenOver = true;
    existing.disconnectWithReason(ReasonCode.SessionTakenOver, 'another connection took over the session');
    existing.destroy('session-taken-over');
  }

  let session = broker.sessions.get(clientId);
  if (session && isCleanStart) {
    // [MQTT-3.1.2-6] / [MQTT-3.1.2-4 (5.0)] clean start discards the previous session.
    broker.lifecycle.discardSession(session);
    session = undefined;
  }
  const isSessionPresent = session !== undefined;
  if (session) {
    broker.lifecycle.cancelSessionTimers(clientId);
    // A will still waiting for its delay is not sent: the client is back in time [MQTT-3.1.3-9].
    session.will = undefined;
    await broker.lifecycle.loadSessionState(session);
    if (connection.isClosed) return;
    // Another CONNECT for the same id may have won the race while we read the store.
    if (broker.clients.has(clientId)) {
      connection.disconnectWithReason(ReasonCode.SessionTakenOver);
      connection.destroy('session-taken-over');
      return;
    }
  }

  const expiryInterval =
    version === 5 ? (properties.sessionExpiryInterval ?? 0) : isCleanStart ? 0 : SESSION_NEVER_EXPIRES;
  if (!session) session = broker.sessions.create(clientId, version, expiryInterval);
  session.protocolVersion = version;
  // A session that ends with its connection is discarded from the store if it was kept before.
  if (session.isPersistent && expiryInterval === 0) {
    broker.committer.add({ type: 'deleteSession', clientId });
  }
  session.expiryInterval = expiryInterval;
  session.will = decision.will;
  session.username = connection.username;
  session.saveRecord();

  connection.session = session;
  broker.clients.set(clientId, connection);
  broker.stats.clientsConnected++;
  broker.stats.clientsMaximum = Math.max(broker.stats.clientsMaximum, broker.stats.clientsConnected);

  // Server Keep Alive (MQTT 5 3.2.2.3.14): a client asking for more than we allow, or for none
  // while we set a limit, is told the value to use; 3.1.1 clients are held to it silently.
  const requestedKeepAlive = packet.keepalive ?? 0;
  const maxKeepAlive = broker.config.limits.maxKeepAlive;
  const isCapped = requestedKeepAlive > maxKeepAlive || (requestedKeepAlive === 0 && maxKeepAlive < 65_535);
  const keepAlive = isCapped ? maxKeepAlive : requestedKeepAlive;
  if (keepAlive > 0) {
    connection.keepAlive = new KeepAliveMonitor(keepAlive, broker.clock, () => {
      broker.logger.info({ clientId }, 'keep-alive timeout; closing the connection');
      connection.disconnectWithReason(ReasonCode.KeepAliveTimeout);
      connection.destroy('keepalive-timeout');
    });
  }

  // MQTT 3.1 has no Session Present flag: that bit is reserved there and stays 0.
  const connack: ConnackPacket = { cmd: 'connack', sessionPresent: isSessionPresent && version !== 3 };
  if (version === 5) {
    connack.reasonCode = ReasonCode.Success;
    const limits = broker.config.limits;
    const connackProperties: NonNullable<ConnackPacket['properties']> = {
      receiveMaximum: limits.receiveMaximum,
      topicAliasMaximum: limits.topicAliasMaximum,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    };
    if (limits.maxPacketSize < 268_435_455) connackProperties.maximumPacketSize = limits.maxPacketSize;
    if (limits.maximumQoS < 2) connackProperties.maximumQoS = limits.maximumQoS;
    if (isCapped) connackProperties.serverKeepAlive = keepAlive;
    if (properties.requestResponseInformation === true) {
      // A per-client prefix under which the client may pick response topics (MQTT 5 4.10).
      connackProperties.responseInformation = `response/${clientId}`;
    }
    if (decision.assignedClientId) connackProperties.assignedClientIdentifier = decision.assignedClientId;
    if (connection.authMethod !== undefined) {
      connackProperties.authenticationMethod = connection.authMethod;
      if (authData) connackProperties.authenticationData = authData;
    }
    connack.properties = connackProperties;
    if (encodePacket(connack, 5).length > connection.clientMaximumPacketSize) {
      // The four "available" flags say what their absence says too (spec 3.2.2.3.5, .11-.13):
      // dropped for a client whose Maximum Packet Size is that small [5.0 MQTT-3.1.2-24].
      delete connackProperties.retainAvailable;
      delete connackProperties.wildcardSubscriptionAvailable;
      delete connackProperties.subscriptionIdentifiersAvailable;
      delete connackProperties.sharedSubscriptionAvailable;
    }
  } else {
    connack.returnCode = 0;
  }

  // CONNACK once the session is on disk, then what the session is owed, then held-back packets.
  broker.committer.afterCommit((error) => {
    if (connection.isClosed || connection.session !== session) return;
    if (error) {
      refuse(connection, ReasonCode.ServerUnavailable, 'store write failed');
      return;
    }
    connection.send(connack);
    // A client whose Maximum Packet Size cannot take the CONNACK is closed by send().
    if (connection.isClosed) return;
    connection.state = 'connected';
    connection.connectedAt = broker.now();
    broker.stats.connectsTotal++;
    broker.logger.info(
      { clientId, remoteAddress: connection.remoteAddress, protocol: version, isSessionPresent, username: connection.username },
      'client connected',
    );
    session.attach(connection, version === 5 ? (properties.receiveMaximum ?? 65_535) : 65_535);
    // Online now: it takes what its shared groups' offline members held while nobody was online.
    broker.router.gatherShared(session);
    connection.releasePackets();
  });
}

/** Answers CONNECT with a failure code and closes [MQTT-3.2.2-5]; the session is untouched. */
function refuse(connection: ClientConnection, reasonCode: number, why: string): void {
  const broker = connection.broker;
  const key = `0x${reasonCode.toString(16)}`;
  broker.stats.connectsRefusedByReason[key] = (broker.stats.connectsRefusedByReason[key] ?? 0) + 1;
  broker.logger.info({ clientId: connection.clientId || undefined, remoteAddress: connection.remoteAddress, reasonCode }, `connection refused: ${why}`);
  const version = connection.protocolVersion;
  const connack: ConnackPacket =
    version === 5
      ? { cmd: 'connack', sessionPresent: false, reasonCode }
      : { cmd: 'connack', sessionPresent: false, returnCode: toConnackReturnCodeV3(reasonCode) };
  connection.send(connack);
  connection.destroy('connect-refused');
}
