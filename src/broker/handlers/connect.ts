/**
 * CONNECT → CONNACK as named steps, read top to bottom: begin (version, the client's MQTT 5
 * wishes), admission, client-id rules, will, certificate identity, authentication (enhanced
 * authentication in enhanced-auth.ts), then on acceptance: cluster claim, takeover, resume or a
 * new session, keep-alive, and the CONNACK once the session record is committed. Replies are
 * built in replies.ts.
 */
import { randomBytes } from 'node:crypto';
import {
  MqttError,
  OutgoingTopicAliases,
  ReasonCode,
  SESSION_NEVER_EXPIRES,
  type ConnectPacket,
  type ProtocolVersion,
  type QoS,
} from '../../protocol/index.js';
import type { Session } from '../../session/index.js';
import type { WillRecord } from '../../store/index.js';
import { isValidTopicName } from '../../topics/index.js';
import type { ClientConnection } from '../context.js';
import { KeepAliveMonitor } from '../keepalive.js';
import { connackAccepted, refuseConnect, type ConnackFacts } from '../replies.js';
import { isWithinTopicLimits } from '../topic-limits.js';
import { startEnhancedAuth } from './enhanced-auth.js';

/** MQTT 3.1 allowed client identifiers of 1 to 23 characters only. */
const MQTT31_MAX_CLIENT_ID = 23;

/** A step refuses CONNECT: answered with a CONNACK carrying the code, then closed. */
class ConnectRefusal extends Error {
  constructor(
    readonly reasonCode: number,
    why: string,
  ) {
    super(why);
  }
}

/** What the steps before authentication decided, for the steps after it. */
interface ConnectDecision {
  clientId: string;
  assignedClientId: string | undefined;
  isCleanStart: boolean;
  will: WillRecord | undefined;
}

export function handleConnect(connection: ClientConnection, packet: ConnectPacket): void {
  beginConnect(connection, packet);
  let decision: ConnectDecision;
  try {
    checkAdmission(connection);
    const { clientId, assignedClientId } = chooseClientId(connection, packet);
    const will = readWill(connection, packet);
    decision = { clientId, assignedClientId, isCleanStart: packet.clean !== false, will };
  } catch (error) {
    if (error instanceof ConnectRefusal) return refuseConnect(connection, error.reasonCode, error.message);
    throw error;
  }
  connection.clientId = decision.clientId;
  const isIdentifiedByCertificate = identifyByCertificate(connection, packet);
  const method = connection.protocolVersion === 5 ? packet.properties?.authenticationMethod : undefined;
  if (method !== undefined) {
    const accept = (finalData: Buffer | undefined): Promise<void> => acceptConnect(connection, packet, decision, finalData);
    startEnhancedAuth(connection, packet, decision.clientId, method, packet.properties?.authenticationData, accept);
    return;
  }
  authenticate(connection, packet, decision, isIdentifiedByCertificate);
}

/** The first CONNECT only [3.1.1 MQTT-3.1.0-2] [5.0 MQTT-3.1.0-2]; its version rules what follows; MQTT 5 wishes noted. */
function beginConnect(connection: ClientConnection, packet: ConnectPacket): void {
  if (connection.state !== 'awaiting-connect') {
    // A second CONNECT is a protocol violation [3.1.1 MQTT-3.1.0-2] [5.0 MQTT-3.1.0-2].
    throw new MqttError(ReasonCode.ProtocolError, 'second CONNECT on one connection');
  }
  const version = (packet.protocolVersion ?? 4) as ProtocolVersion;
  connection.protocolVersion = version;
  connection.state = 'connecting';
  connection.holdPackets();
  if (version !== 5) return;
  const properties = packet.properties ?? {};
  connection.wantsProblemInformation = properties.requestProblemInformation !== false;
  if (properties.maximumPacketSize !== undefined) connection.clientMaximumPacketSize = properties.maximumPacketSize;
  // Outgoing topic aliases only for a client that asked for them [5.0 MQTT-3.1.2-27], never more than it accepts [5.0 MQTT-3.1.2-26].
  const aliasMaximum = Math.min(properties.topicAliasMaximum ?? 0, connection.broker.config.limits.outgoingTopicAliasMaximum);
  if (aliasMaximum > 0) connection.outgoingAliases = new OutgoingTopicAliases(aliasMaximum);
}

/** Admission: CONNECTs per client address, when limited. */
function checkAdmission(connection: ClientConnection): void {
  const broker = connection.broker;
  if (broker.connectRateLimiter && !broker.connectRateLimiter.tryTake(connection.remoteHost)) {
    broker.stats.connectsRateLimited++;
    throw new ConnectRefusal(ReasonCode.ConnectionRateExceeded, 'connect rate per address exceeded');
  }
}

/** The client identifier rules of each version; an empty one is assigned when allowed. */
function chooseClientId(connection: ClientConnection, packet: ConnectPacket): { clientId: string; assignedClientId: string | undefined } {
  const version = connection.protocolVersion;
  let clientId = packet.clientId ?? '';
  let assignedClientId: string | undefined;
  if (clientId === '') {
    if (version === 4 && packet.clean === false) {
      // [3.1.1 MQTT-3.1.3-8] empty id with CleanSession=0: CONNACK 0x02, then close.
      throw new ConnectRefusal(ReasonCode.ClientIdentifierNotValid, 'empty client id requires a clean session');
    }
    if (version === 3) throw new ConnectRefusal(ReasonCode.ClientIdentifierNotValid, 'MQTT 3.1 requires a client id');
    // The server assigns a unique id [3.1.1 MQTT-3.1.3-6] [5.0 MQTT-3.1.3-6]; MQTT 5 tells the client
    // [5.0 MQTT-3.2.2-16].
    clientId = `midge-${randomBytes(9).toString('base64url')}`;
    assignedClientId = clientId;
  } else if (version === 3 && clientId.length > MQTT31_MAX_CLIENT_ID) {
    throw new ConnectRefusal(ReasonCode.ClientIdentifierNotValid, 'MQTT 3.1 client ids are at most 23 characters');
  } else if (Buffer.byteLength(clientId) > connection.broker.config.limits.maxClientIdLength) {
    // [3.1.1 MQTT-3.1.3-9] [5.0 MQTT-3.1.3-8] a client id we reject: CONNACK 0x02 (5.0: 0x85).
    throw new ConnectRefusal(ReasonCode.ClientIdentifierNotValid, 'client id too long');
  }
  if (clientId.startsWith('$bridge/') || clientId.startsWith('$connector/') || clientId.startsWith('$queue/') || clientId.startsWith('$dlq/')) {
    // Reserved for Midge's own bridge, connector, queue and dead-letter sessions, so no device can take one over.
    throw new ConnectRefusal(ReasonCode.ClientIdentifierNotValid, 'client ids starting with $bridge/, $connector/, $queue/ or $dlq/ are reserved');
  }
  if (clientId.includes('\u0000') || clientId.includes('\uFFFD')) {
    throw new ConnectRefusal(ReasonCode.ClientIdentifierNotValid, 'client id is not valid UTF-8');
  }
  return { clientId, assignedClientId };
}

/** The will as it will be stored: a valid topic, a supported QoS, its delay apart. */
function readWill(connection: ClientConnection, packet: ConnectPacket): WillRecord | undefined {
  if (!packet.will) return undefined;
  const version = connection.protocolVersion;
  const limits = connection.broker.config.limits;
  if (!isValidTopicName(packet.will.topic) || !isWithinTopicLimits(packet.will.topic, limits)) {
    // [3.1.1 MQTT-3.1.3-10] [5.0 MQTT-3.1.3-11] the will topic must be a valid topic name.
    throw new MqttError(version === 5 ? ReasonCode.TopicNameInvalid : ReasonCode.MalformedPacket, 'invalid will topic');
  }
  if ((packet.will.qos ?? 0) > limits.maximumQoS) {
    // [5.0 MQTT-3.2.2-12] a will QoS above what we support: CONNACK 0x9B.
    throw new ConnectRefusal(ReasonCode.QoSNotSupported, 'will QoS above the maximum QoS');
  }
  const { willDelayInterval, messageExpiryInterval, ...forwarded } = packet.will.properties ?? {};
  const payload = packet.will.payload;
  const will: WillRecord = {
    topic: packet.will.topic,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    qos: (packet.will.qos ?? 0) as QoS,
    retain: packet.will.retain === true,
    delayInterval: willDelayInterval ?? 0,
  };
  // Will message expiry counts from when the will is published, so it stays an interval here.
  if (version === 5) will.properties = messageExpiryInterval === undefined ? forwarded : { ...forwarded, messageExpiryInterval };
  return will;
}

/** The verified client certificate is the credential, when so configured: its CN (or SAN) becomes the user name. */
function identifyByCertificate(connection: ClientConnection, packet: ConnectPacket): boolean {
  connection.username = packet.username;
  const identity = connection.info.certificateIdentity;
  const isIdentifiedByCertificate = connection.broker.config.auth.useIdentityAsUsername && identity !== undefined;
  if (isIdentifiedByCertificate) connection.username = identity;
  return isIdentifiedByCertificate;
}

/** User name and password (or the certificate alone), then acceptance. */
function authenticate(connection: ClientConnection, packet: ConnectPacket, decision: ConnectDecision, isIdentifiedByCertificate: boolean): void {
  const broker = connection.broker;
  void Promise.resolve(
    isIdentifiedByCertificate
      ? { isAccepted: true as const }
      : broker.authenticator.authenticate({
          clientId: decision.clientId,
          username: packet.username,
          password: packet.password,
          remoteAddress: connection.remoteAddress,
          certificateIdentity: connection.info.certificateIdentity,
          listenerIndex: connection.info.listenerIndex,
        }),
  )
    .then(async (result) => {
      if (connection.isClosed) return;
      if (!result.isAccepted) return refuseConnect(connection, result.reasonCode, 'authentication failed');
      await acceptConnect(connection, packet, decision);
    })
    .catch((error: unknown) => {
      broker.logger.error({ err: error, clientId: decision.clientId }, 'CONNECT failed');
      if (!connection.isClosed) refuseConnect(connection, ReasonCode.ServerUnavailable, 'server error');
    });
}

/** The client is who it says: claim the id, take over, resume or start the session, CONNACK. */
async function acceptConnect(connection: ClientConnection, packet: ConnectPacket, decision: ConnectDecision, authData?: Buffer): Promise<void> {
  const broker = connection.broker;
  const { clientId } = decision;
  if (broker.cluster) {
    // Cluster: the id is claimed on the engine first; its session, if on another node, moves here.
    const isOwner = await broker.cluster.claim(clientId, decision.isCleanStart);
    if (connection.isClosed) return;
    if (!isOwner) return refuseConnect(connection, ReasonCode.ServerBusy, 'another CONNECT with this client id won the race on another node');
  }
  const opsBefore = broker.committer.addedCount;
  broker.lifecycle.takeOver(clientId, connection);
  const resumed = await resumeSession(connection, decision);
  if (resumed === 'lost-race') return;
  const session = startSession(connection, packet, decision, resumed);
  broker.lifecycle.register(connection);
  const serverKeepAlive = startKeepAlive(connection, packet);
  const facts: ConnackFacts = { isSessionPresent: resumed !== undefined };
  if (serverKeepAlive !== undefined) facts.serverKeepAlive = serverKeepAlive;
  if (packet.properties?.requestResponseInformation === true) {
    // A per-client prefix under which the client may pick response topics (MQTT 5 4.10).
    facts.responseInformation = `response/${clientId}`;
  }
  if (decision.assignedClientId) facts.assignedClientIdentifier = decision.assignedClientId;
  if (connection.authMethod !== undefined) {
    facts.authenticationMethod = connection.authMethod;
    if (authData) facts.authenticationData = authData;
  }
  // Nothing of this CONNECT is to be stored (a clean session, no old session discarded, no
  // connection taken over): CONNACK at once, not after a commit holding nothing of it.
  const isNothingStored = broker.committer.addedCount === opsBefore;
  sendConnackWhenCommitted(connection, packet, session, facts, isNothingStored);
}

/**
 * The session this id already has, unless clean start discards it [3.1.1 MQTT-3.1.2-6] [5.0 MQTT-3.1.2-4];
 * its timers stop and its stored state is loaded. 'lost-race' when another CONNECT for the id
 * connected while the store was read (this one is closed then).
 */
async function resumeSession(connection: ClientConnection, decision: ConnectDecision): Promise<Session | undefined | 'lost-race'> {
  const broker = connection.broker;
  const { clientId } = decision;
  let session = broker.sessions.get(clientId);
  if (session && decision.isCleanStart) {
    broker.lifecycle.discardSession(session);
    session = undefined;
  }
  if (!session) return undefined;
  broker.lifecycle.cancelSessionTimers(clientId);
  // A will still waiting for its delay is not sent: the client is back in time [5.0 MQTT-3.1.3-9].
  session.will = undefined;
  await broker.lifecycle.loadSessionState(session);
  if (connection.isClosed) return 'lost-race';
  // Another CONNECT for the same id may have won the race while we read the store.
  if (broker.clients.has(clientId)) {
    connection.disconnectWithReason(ReasonCode.SessionTakenOver);
    connection.destroy('session-taken-over');
    return 'lost-race';
  }
  return session;
}

/** The session's expiry, will and user as this CONNECT sets them, written to the store. */
function startSession(connection: ClientConnection, packet: ConnectPacket, decision: ConnectDecision, resumed: Session | undefined): Session {
  const broker = connection.broker;
  const version = connection.protocolVersion;
  const { clientId } = decision;
  const expiryInterval =
    version === 5 ? (packet.properties?.sessionExpiryInterval ?? 0) : decision.isCleanStart ? 0 : SESSION_NEVER_EXPIRES;
  const session = resumed ?? broker.sessions.create(clientId, version, expiryInterval);
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
  return session;
}

/**
 * Server Keep Alive (MQTT 5 3.2.2.3.14): a client asking for more than we allow, or for none
 * while we set a limit, is told the value to use (returned); 3.1.1 clients are held to it silently.
 */
function startKeepAlive(connection: ClientConnection, packet: ConnectPacket): number | undefined {
  const broker = connection.broker;
  const requestedKeepAlive = packet.keepalive ?? 0;
  const maxKeepAlive = broker.config.limits.maxKeepAlive;
  const isCapped = requestedKeepAlive > maxKeepAlive || (requestedKeepAlive === 0 && maxKeepAlive < 65_535);
  const keepAlive = isCapped ? maxKeepAlive : requestedKeepAlive;
  if (keepAlive > 0) connection.keepAlive = new KeepAliveMonitor(keepAlive, broker.keepAlives, connection);
  return isCapped ? keepAlive : undefined;
}

/** CONNACK once the session is on disk, then what the session is owed, then held-back packets. */
function sendConnackWhenCommitted(connection: ClientConnection, packet: ConnectPacket, session: Session, facts: ConnackFacts, isNothingStored: boolean): void {
  const broker = connection.broker;
  const version = connection.protocolVersion;
  const connack = connackAccepted(version, broker.config.limits, facts, connection.clientMaximumPacketSize);
  const complete = (error?: Error): void => {
    if (connection.isClosed || connection.session !== session) return;
    if (error) {
      refuseConnect(connection, ReasonCode.ServerUnavailable, 'store write failed');
      return;
    }
    connection.send(connack);
    // A client whose Maximum Packet Size cannot take the CONNACK is closed by send().
    if (connection.isClosed) return;
    connection.state = 'connected';
    connection.connectedAt = broker.now();
    broker.stats.connectsTotal++;
    broker.clientEvents.log('client connected', () => ({
      clientId: session.clientId,
      remoteAddress: connection.remoteAddress,
      protocol: version,
      isSessionPresent: facts.isSessionPresent,
      username: connection.username,
    }));
    session.attach(connection, version === 5 ? (packet.properties?.receiveMaximum ?? 65_535) : 65_535);
    // Online now: it takes what its shared groups' offline members held while nobody was online
    // (those still on disk after a restart once read in).
    broker.router.gatherShared(session, (member) => broker.lifecycle.loadSessionState(member));
    connection.releasePackets();
  };
  if (isNothingStored) complete();
  else broker.committer.afterCommit(complete);
}
