/**
 * What a packet handler may use of the broker, and of the connection it handles: `BrokerContext`
 * is built once by `Broker`, `ClientConnection` is what `Connection` offers its handlers. Both are
 * types only, so handlers, the session lifecycle and their unit tests import neither the Broker
 * nor the Connection class (no import cycle, a handler testable with fakes).
 */
import type { Authenticator, Authorizer, EnhancedAuthenticator, EnhancedAuthExchange } from '../auth/index.js';
import type { Clock } from '../clock/index.js';
import type { BrokerConfig } from '../config/index.js';
import type { ClientEventLog, Logger } from '../observability/index.js';
import type { MqttError, OutgoingTopicAliases, Packet, PacketDecoder, PacketEncoder, ProtocolVersion } from '../protocol/index.js';
import type { Session, SessionLink, SessionRegistry } from '../session/index.js';
import type { GroupCommitter, StoredSession, SubscriptionRecord } from '../store/index.js';
import type { KeepAliveMonitor, KeepAliveSweep, KeepAliveTarget } from './keepalive.js';
import type { KeyedRateLimiter } from './rate-limit.js';
import type { Router } from './router.js';
import type { BrokerStats } from './stats.js';
import type { TopicRateCounter } from './topic-rates.js';
import type { ClusterHooks, ConnectionInfo } from './types.js';

export type ConnectionState = 'awaiting-connect' | 'connecting' | 'connected' | 'closed';

/** Why a connection ended: the label of the disconnect metric and log line. */
export type CloseReason =
  | 'client-disconnect'
  | 'connection-lost'
  | 'keepalive-timeout'
  | 'session-taken-over'
  | 'protocol-error'
  | 'connect-refused'
  | 'connect-timeout'
  | 'server-shutdown'
  | 'admin'
  | 'store-failure'
  | 'internal-error';

/** One client connection as its handlers see it (implemented by `Connection`). */
export interface ClientConnection extends SessionLink {
  readonly broker: BrokerContext;
  readonly info: ConnectionInfo;
  readonly remoteAddress: string;
  /** The client's IP address, without the port. */
  readonly remoteHost: string;
  state: ConnectionState;
  readonly isClosed: boolean;
  protocolVersion: ProtocolVersion;
  clientId: string;
  username: string | undefined;
  session: Session | undefined;
  keepAlive: KeepAliveMonitor | undefined;
  /** Silent beyond its keep-alive grace: logged, told (MQTT 5), closed. */
  onKeepAliveExpired: KeepAliveTarget['onKeepAliveExpired'];
  /** Set by DISCONNECT (reason 0x00): the will is not published [3.1.1 MQTT-3.14.4-3] [5.0 MQTT-3.14.4-3]. */
  isDisconnectClean: boolean;
  /** Set when another connection took the session over. */
  isTakenOver: boolean;
  readonly closeReason: CloseReason | undefined;
  /** Epoch ms of the CONNACK (admin API). */
  connectedAt: number | undefined;
  /** MQTT 5: whether the client wants reason strings and user properties on errors. */
  wantsProblemInformation: boolean;
  /** MQTT 5: largest packet the client accepts. */
  clientMaximumPacketSize: number;
  /** MQTT 5 enhanced authentication: the method agreed in CONNECT, and the exchange under way. */
  authMethod: string | undefined;
  authExchange: EnhancedAuthExchange | undefined;
  /** Finishes CONNECT once a CONNECT-time AUTH exchange succeeds. */
  onAuthSuccess: ((finalData: Buffer | undefined) => Promise<void>) | undefined;
  /** QoS 1 PUBLISHes received whose PUBACK waits for a commit (flow control). */
  unackedIncoming: number;
  outgoingAliases: OutgoingTopicAliases | undefined;
  /** MQTT 5 incoming topic aliases: alias → topic. */
  readonly topicAliases: Map<number, string>;
  send(packet: Packet): void;
  /** Counts one PUBLISH against the client's rate limits (may pause reading). */
  throttlePublish(payloadBytes: number): void;
  /** Lets every other connection have its turn before this one's next packet. */
  yieldTurn(): void;
  /** An authorization answer is still to come: later packets wait until `then` ran with it. */
  continueAfter<T>(pending: Promise<T>, then: (value: T) => void): void;
  /** CONNECT is being processed: hold what arrives meanwhile. */
  holdPackets(): void;
  /** A CONNECT-time AUTH exchange needs the client's AUTH packets while CONNECT is pending. */
  readDuringAuthExchange(): void;
  /** Handles the packets held back during CONNECT, in order. */
  releasePackets(): void;
  protocolFailure(error: MqttError): void;
  /** MQTT 5 only: tells the client why before the server closes the connection. */
  disconnectWithReason(reasonCode: number, reasonString?: string): void;
  /** Closes the socket after flushing what was written; the first reason given is kept. */
  destroy(reason: CloseReason): void;
}

/** Connected clients by client id (after CONNACK), for takeover, the admin API and revocation. */
export type ClientRegistry = Map<string, ClientConnection>;

/**
 * A session's life apart from its packets: restore from the store, resume, takeover, will and
 * expiry timers, and what happens when its connection closes (session-lifecycle.ts).
 */
export interface SessionLifecycle {
  /** Puts a stored session back into memory; false (and deleted) when it expired meanwhile. */
  restoreSession(storedSession: StoredSession, now: number): boolean;
  /** Reads a recovered session's deliveries and QoS 2 ids from the store before it goes online. */
  loadSessionState(session: Session): Promise<void>;
  /** Ends a session: its subscriptions leave the router and the store forgets it. */
  discardSession(session: Session): void;
  /** A session is being resumed or replaced: its timers no longer apply. */
  cancelSessionTimers(clientId: string): void;
  /** Closes the connection already holding `clientId`, if another one does [3.1.1 MQTT-3.1.4-2] [5.0 MQTT-3.1.4-3]. */
  takeOver(clientId: string, newcomer: ClientConnection): void;
  /** The CONNACK is due: `connection` is the client's from now on. */
  register(connection: ClientConnection): void;
  /** The session part of a connection closing: will, expiry, shared-group redistribution. */
  onConnectionClosed(connection: ClientConnection): void;
  /** An in-process client's never-expiring session with exactly these subscriptions. */
  openInternalSession(clientId: string, subscriptions: readonly SubscriptionRecord[], options: { overflowPolicy: Session['overflowPolicy'] }): Promise<Session>;
  cancelAll(): void;
}

/** The broker as its handlers and connections see it: built once by `Broker`. */
export interface BrokerContext {
  readonly config: BrokerConfig;
  /** Epoch ms, injectable for tests of expiry rules (the clock's now). */
  readonly now: () => number;
  /** Every timer rule (keep-alive, expiry, will delay, CONNECT timeout) runs on this. */
  readonly clock: Clock;
  /** The one keep-alive timer every connection's monitor files itself with. */
  readonly keepAlives: KeepAliveSweep;
  readonly logger: Logger;
  /** The per-client connect/disconnect lines, summed up above a rate (observability/client-event-log.ts). */
  readonly clientEvents: ClientEventLog;
  readonly stats: BrokerStats;
  /** The commit log: acknowledgements wait on it (acknowledged = committed). */
  readonly committer: GroupCommitter;
  readonly router: Router;
  readonly sessions: SessionRegistry;
  readonly clients: ClientRegistry;
  readonly lifecycle: SessionLifecycle;
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  readonly enhancedAuthenticators: ReadonlyMap<string, EnhancedAuthenticator>;
  /** Admission: CONNECTs per client address, when limited. */
  readonly connectRateLimiter: KeyedRateLimiter | undefined;
  /** Cluster mode only: claims a client id cluster-wide at CONNECT. */
  readonly cluster: ClusterHooks | undefined;
  /** Per-topic message rates for the dashboard. */
  readonly topicRates: TopicRateCounter;
  /** Every connection's way in and out: the codec doors (one per broker, shared by its connections). */
  readonly decoder: PacketDecoder;
  readonly encoder: PacketEncoder;
  /** Called once by each connection when it closes. */
  onConnectionClosed(connection: ClientConnection): void;
}
