/**
 * The Store contract: the records Midge persists and the operations on them. Every backend
 * (memory, level) implements this and passes the one contract suite in test/store/.
 */
import type { ProtocolVersion, QoS, UserProperties } from '../protocol/index.js';

/** MQTT 5 PUBLISH properties that travel with a message from publisher to subscribers. */
export interface MessageProperties {
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: UserProperties;
}

/** An application message as published; shared by every delivery of it, never copied. */
export interface Message {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: MessageProperties;
  /** Epoch ms after which the message must no longer be delivered (MQTT 5 message expiry). */
  expiresAt?: number;
  /**
   * Cluster mode, QoS 2 from a client: names this publication across nodes, so routing it again
   * (a resend after its first node died) makes no second copy (src/cluster, Session.deliver).
   */
  routingId?: string;
}

export interface SubscriptionOptions {
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId?: number;
}

export interface SubscriptionRecord extends SubscriptionOptions {
  filter: string;
}

export interface WillRecord extends Message {
  /** MQTT 5 Will Delay Interval, seconds. */
  delayInterval: number;
}

export interface SessionRecord {
  clientId: string;
  protocolVersion: ProtocolVersion;
  /** Seconds the session outlives its connection; 0xFFFFFFFF = never expires. */
  expiryInterval: number;
  /** Epoch ms of the last disconnect, or undefined while connected. */
  disconnectedAt?: number;
  username?: string;
  will?: WillRecord;
}

/** Where an outgoing QoS 1/2 delivery stands. */
export type OutgoingState = 'queued' | 'sent' | 'pubrec';

/** One delivery owed to a session, in the order of `seq`. */
export interface OutgoingRecord {
  seq: number;
  message: Message;
  /** QoS of this delivery: min(published QoS, granted QoS). */
  qos: QoS;
  /** Retain flag as delivered (retain-as-published or a retained message sent on subscribe). */
  retain: boolean;
  subscriptionIds?: number[];
  /** Set when delivered through a shared subscription: `<group>/<filter>`. */
  shareGroup?: string;
  packetId?: number;
  state: OutgoingState;
  /** A durable queue's own session: deliveries of this message to its consumers so far (maxDeliveries across a restart). */
  deliveries?: number;
}

export type StoreOp =
  | { type: 'putSession'; session: SessionRecord }
  /** Removes the session and everything it owns: subscriptions, outgoing, incoming QoS 2 ids. */
  | { type: 'deleteSession'; clientId: string }
  | { type: 'putSubscription'; clientId: string; subscription: SubscriptionRecord }
  | { type: 'deleteSubscription'; clientId: string; filter: string }
  | { type: 'putOutgoing'; clientId: string; record: OutgoingRecord }
  | { type: 'deleteOutgoing'; clientId: string; seq: number }
  | { type: 'putIncomingQos2'; clientId: string; packetId: number; routingId?: string }
  | { type: 'deleteIncomingQos2'; clientId: string; packetId: number }
  | { type: 'putRetained'; message: Message }
  | { type: 'deleteRetained'; topic: string };

export interface StoredSession {
  session: SessionRecord;
  subscriptions: SubscriptionRecord[];
  /** How many outgoing records the session has in the store (its queue bound counts them). */
  outgoingCount: number;
  /** One more than the highest stored outgoing seq (1 when none): where new deliveries continue. */
  nextOutgoingSeq: number;
  /** The lowest stored outgoing seq, when the store knows it (with the count and next seq: the span `loadOutgoing` may read). */
  firstOutgoingSeq?: number;
  /**
   * The session's incoming QoS 2 ids, when the store read them with the sessions (a few bytes
   * each): the client's CONNECT then needs no read of them. Absent: read by `loadIncomingQos2`.
   */
  incomingQos2Ids?: number[];
}

/**
 * Where a session's stored deliveries lie: every one has `fromSeq <= seq < toSeq`, and there are
 * `count` of them (exact: nothing was read or acked since they were counted). A store may read
 * exactly those keys instead of scanning the session's range.
 */
export interface OutgoingSpan {
  fromSeq: number;
  toSeq: number;
  count: number;
}

export interface Store {
  open(): Promise<void>;
  close(): Promise<void>;
  /** Applies the operations atomically, in order: all of them or none. */
  write(ops: readonly StoreOp[]): Promise<void>;
  loadSessions(): Promise<StoredSession[]>;
  loadRetained(): Promise<Message[]>;
  /** The session's outgoing records in `seq` order; `span`, when known, says where they lie. */
  loadOutgoing(clientId: string, span?: OutgoingSpan): Promise<OutgoingRecord[]>;
  loadIncomingQos2(clientId: string): Promise<number[]>;
  /** Cluster store: the routing ids stored with the incoming QoS 2 ids `loadIncomingQos2` just read. */
  incomingRoutingIds?(clientId: string): ReadonlyMap<number, string> | undefined;
  /**
   * Before a failed batch is retried: get ready to take writes again (reopen) and say whether a
   * retry is worth it now (false: e.g. the disk is still full). Absent: retry as is.
   */
  prepareRetry?(): Promise<boolean>;
  /** Bytes the store takes on disk, roughly ($SYS/broker/store/size); absent for memory. */
  approximateSize?(): Promise<number>;
}
