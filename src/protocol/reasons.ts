/**
 * MQTT 5.0 reason codes (spec 2.4) as named constants, and the one place that maps a reason code to
 * what an MQTT 3.1 / 3.1.1 client can be told instead.
 */
export const ReasonCode = {
  Success: 0x00,
  NormalDisconnection: 0x00,
  GrantedQoS0: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWillMessage: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;

export type ReasonCodeValue = (typeof ReasonCode)[keyof typeof ReasonCode];

/** MQTT 3.1.1 CONNACK return codes (spec 3.2.2.3). */
export const ConnackReturnCode = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUserNameOrPassword: 4,
  NotAuthorized: 5,
} as const;

/** 3.1.1 SUBACK has one failure code for every refusal. */
export const SUBACK_FAILURE_V3 = 0x80;

/** A protocol-level failure carrying the reason code a 5.0 peer is told. */
export class MqttError extends Error {
  constructor(
    readonly reasonCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'MqttError';
  }
}

/** What a 3.1/3.1.1 client gets in CONNACK for a 5.0 reason code. */
export function toConnackReturnCodeV3(reasonCode: number): number {
  switch (reasonCode) {
    case ReasonCode.Success:
      return ConnackReturnCode.Accepted;
    case ReasonCode.UnsupportedProtocolVersion:
      return ConnackReturnCode.UnacceptableProtocolVersion;
    case ReasonCode.ClientIdentifierNotValid:
      return ConnackReturnCode.IdentifierRejected;
    case ReasonCode.BadUserNameOrPassword:
    case ReasonCode.BadAuthenticationMethod:
      return ConnackReturnCode.BadUserNameOrPassword;
    case ReasonCode.NotAuthorized:
    case ReasonCode.Banned:
      return ConnackReturnCode.NotAuthorized;
    default:
      return ConnackReturnCode.ServerUnavailable;
  }
}

/** What a 3.1/3.1.1 client gets in SUBACK for a 5.0 reason code: the granted QoS, or 0x80. */
export function toSubackCodeV3(reasonCode: number): number {
  return reasonCode < 0x80 ? reasonCode : SUBACK_FAILURE_V3;
}

/**
 * mqtt-packet reports decode failures as plain text; this is the one place that turns them into
 * reason codes (design: "map its errors to 0x81 or 0x82 in one place"). Everything the codec
 * refuses is malformed for MQTT 5 (spec 4.13: a packet that cannot be parsed per the spec), except
 * an unknown protocol level, which CONNACK answers with its own code. Protocol errors (0x82) are
 * raised by the handlers, which know the rules about what may be sent when.
 */
export function reasonCodeForParserError(message: string): number {
  if (/protocol version/i.test(message)) return ReasonCode.UnsupportedProtocolVersion;
  return ReasonCode.MalformedPacket;
}
