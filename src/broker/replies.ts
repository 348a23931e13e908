/**
 * Every reply the broker sends a client, built in one place with the 3.1.1 / 5.0 rule of each
 * packet stated once: CONNACK (accepted and refused), SUBACK, UNSUBACK, PUBACK/PUBREC with the
 * reason-string rule, PUBREL/PUBCOMP, DISCONNECT, and the close after a refusal or a store
 * failure. Pure builders apart from `refuseConnect` and `closeAfterStoreFailure`, which also close.
 */
import {
  encodePacket,
  ReasonCode,
  toConnackReturnCodeV3,
  toSubackCodeV3,
  type ConnackPacket,
  type DisconnectPacket,
  type Packet,
  type ProtocolVersion,
} from '../protocol/index.js';
import type { LimitsConfig } from '../config/index.js';
import type { ClientConnection } from './context.js';

// --- CONNACK ------------------------------------------------------------------------------------

/**
 * A refusing CONNACK (the connection closes after it [3.1.1 MQTT-3.2.2-5] [5.0 MQTT-3.2.2-7]):
 * 5.0 carries the reason code, 3.1.1 and 3.1 the nearest of their six return codes; Session
 * Present is 0 on any refusal [3.1.1 MQTT-3.2.2-4] [5.0 MQTT-3.2.2-6].
 */
export function connackRefused(version: ProtocolVersion, reasonCode: number): ConnackPacket {
  return version === 5
    ? { cmd: 'connack', sessionPresent: false, reasonCode }
    : { cmd: 'connack', sessionPresent: false, returnCode: toConnackReturnCodeV3(reasonCode) };
}

/** Answers CONNECT with a refusing CONNACK and closes; the session is untouched (counted, logged once). */
export function refuseConnect(connection: ClientConnection, reasonCode: number, why: string): void {
  const broker = connection.broker;
  const key = `0x${reasonCode.toString(16)}`;
  broker.stats.connectsRefusedByReason[key] = (broker.stats.connectsRefusedByReason[key] ?? 0) + 1;
  broker.logger.info({ clientId: connection.clientId || undefined, remoteAddress: connection.remoteAddress, reasonCode }, `connection refused: ${why}`);
  connection.send(connackRefused(connection.protocolVersion, reasonCode));
  connection.destroy('connect-refused');
}

/** What an accepting MQTT 5 CONNACK tells the client besides the limits (spec 3.2.2.3). */
export interface ConnackFacts {
  isSessionPresent: boolean;
  /** Set when the client asked for more keep-alive than allowed (or none while we cap it). */
  serverKeepAlive?: number;
  responseInformation?: string;
  assignedClientIdentifier?: string;
  authenticationMethod?: string;
  authenticationData?: Buffer;
}

/**
 * An accepting CONNACK. MQTT 3.1 has no Session Present flag (the bit is reserved there and stays
 * 0); 3.1.1 has return code 0 and no properties; 5.0 announces the server's limits, and drops the
 * four "available" flags (their absence says the same, spec 3.2.2.3.5, .11-.13) for a client whose
 * Maximum Packet Size cannot take them [5.0 MQTT-3.1.2-24].
 */
export function connackAccepted(version: ProtocolVersion, limits: LimitsConfig, facts: ConnackFacts, clientMaximumPacketSize: number): ConnackPacket {
  const connack: ConnackPacket = { cmd: 'connack', sessionPresent: facts.isSessionPresent && version !== 3 };
  if (version !== 5) {
    connack.returnCode = 0;
    return connack;
  }
  connack.reasonCode = ReasonCode.Success;
  const properties: NonNullable<ConnackPacket['properties']> = {
    receiveMaximum: limits.receiveMaximum,
    topicAliasMaximum: limits.topicAliasMaximum,
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: true,
  };
  if (limits.maxPacketSize < 268_435_455) properties.maximumPacketSize = limits.maxPacketSize;
  if (limits.maximumQoS < 2) properties.maximumQoS = limits.maximumQoS;
  if (facts.serverKeepAlive !== undefined) properties.serverKeepAlive = facts.serverKeepAlive;
  if (facts.responseInformation !== undefined) properties.responseInformation = facts.responseInformation;
  if (facts.assignedClientIdentifier) properties.assignedClientIdentifier = facts.assignedClientIdentifier;
  if (facts.authenticationMethod !== undefined) {
    properties.authenticationMethod = facts.authenticationMethod;
    if (facts.authenticationData) properties.authenticationData = facts.authenticationData;
  }
  connack.properties = properties;
  if (encodePacket(connack, 5).length > clientMaximumPacketSize) {
    delete properties.retainAvailable;
    delete properties.wildcardSubscriptionAvailable;
    delete properties.subscriptionIdentifiersAvailable;
    delete properties.sharedSubscriptionAvailable;
  }
  return connack;
}

/**
 * The answer to an unknown protocol level [3.1.1 MQTT-3.1.2-2]: CONNACK 0x01 in the 3.1.1 form, which
 * every client version can read, as bytes (the codec cannot encode a version it does not know).
 */
export const CONNACK_UNSUPPORTED_PROTOCOL = Buffer.from([0x20, 0x02, 0x00, 0x01]);

// --- SUBACK / UNSUBACK ----------------------------------------------------------------------------

/** One SUBACK code for a refused filter: the reason code in 5.0, 0x80 in 3.1.1 [3.1.1 MQTT-3.9.3-2] [5.0 MQTT-3.9.3-2]. */
export function subackFailure(version: ProtocolVersion, reasonCode: number): number {
  return version === 5 ? reasonCode : toSubackCodeV3(reasonCode);
}

/** SUBACK: one code per filter in the order of the SUBSCRIBE [3.1.1 MQTT-3.9.3-1] [5.0 MQTT-3.9.3-1]. */
export function suback(messageId: number, granted: number[]): Packet {
  return { cmd: 'suback', messageId, granted };
}

/** UNSUBACK: 3.1.1's has no payload; the encoder writes the codes for 5.0 only. */
export function unsuback(messageId: number, granted: number[]): Packet {
  return { cmd: 'unsuback', messageId, granted };
}

// --- PUBACK / PUBREC / PUBREL / PUBCOMP ---------------------------------------------------------

const ACK_REASON_TEXT: Record<number, string> = {
  [ReasonCode.QuotaExceeded]: 'every matching session is at its queue bound',
  [ReasonCode.NotAuthorized]: 'not authorized to publish to this topic',
  [ReasonCode.PayloadFormatInvalid]: 'payload is not valid UTF-8 although the Payload Format Indicator says so',
};

/**
 * PUBACK/PUBREC. 3.1.1 acks have no reason code (the connection writes the 4-byte form); 5.0 ones
 * carry a reason string on failures unless the client asked for none [5.0 MQTT-3.1.2-29].
 */
export function publishAck(connection: ClientConnection, cmd: 'puback' | 'pubrec', messageId: number, reasonCode: number) {
  const text = ACK_REASON_TEXT[reasonCode];
  if (text && connection.protocolVersion === 5 && connection.wantsProblemInformation) {
    return { cmd, messageId, reasonCode, properties: { reasonString: text } } as const;
  }
  return { cmd, messageId, reasonCode } as const;
}

/** PUBREL for a PUBREC of an id we do not know (5.0: 0x92), so the client's flow can end. */
export function pubrelUnknown(messageId: number): Packet {
  return { cmd: 'pubrel', messageId, reasonCode: ReasonCode.PacketIdentifierNotFound };
}

/** PUBCOMP: Success, or 0x92 when the released id was not awaiting release (5.0 only). */
export function pubcomp(messageId: number, isKnown: boolean): Packet {
  return { cmd: 'pubcomp', messageId, reasonCode: isKnown ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound };
}

// --- DISCONNECT and closes ------------------------------------------------------------------------

/**
 * A server DISCONNECT exists in MQTT 5 only, after CONNACK: undefined otherwise (3.1.1 clients are
 * simply disconnected [3.1.1 MQTT-4.8.0-1]). The reason string only for a client that wants it.
 */
export function serverDisconnect(connection: ClientConnection, reasonCode: number, reasonString?: string): DisconnectPacket | undefined {
  if (connection.protocolVersion !== 5 || connection.state !== 'connected') return undefined;
  const packet: DisconnectPacket = { cmd: 'disconnect', reasonCode };
  if (reasonString && connection.wantsProblemInformation) packet.properties = { reasonString };
  return packet;
}

/**
 * A store write failed under a reply (PUBACK, PUBREC, SUBACK): the reply is not sent and the
 * connection closes, so the client resends what was not acknowledged (acknowledged = committed).
 */
export function closeAfterStoreFailure(connection: ClientConnection, withheld: string): void {
  connection.broker.logger.warn({ clientId: connection.clientId }, `${withheld} withheld after a store failure; closing`);
  connection.disconnectWithReason(ReasonCode.UnspecifiedError, 'store write failed');
  connection.destroy('store-failure');
}
