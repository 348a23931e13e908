/**
 * The Broker owns everything: store, sessions, router, timers and connections. Listeners hand it
 * byte streams; it never opens sockets itself, so it can be embedded and tested in-process.
 */
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { allowAllAuthenticator, allowAllAuthorizer, type Authenticator, type Authorizer, type EnhancedAuthenticator } from '../auth/index.js';
import type { BrokerConfig } from '../config/index.js';
import type { Logger } from '../observability/index.js';
import { ReasonCode } from '../protocol/index.js';
import { SessionRegistry, type DropReason, type Session } from '../session/index.js';
import { GroupCommitter, type Message, type Store } from '../store/index.js';
import { Connection } from './connection.js';
import { KeyedRateLimiter } from './rate-limit.js';
import { Router } from './router.js';
import { SessionExpiryTimers } from './session-expiry.js';
import { BrokerStats } from './stats.js';
import type { ConnectionInfo, Listener } from './types.js';
import { WillDelayTimers } from './will-delay.js';

export interface BrokerDependencies {
  config: BrokerConfig;
  store: Store;
  logger: Logger;
  listeners: Listener[];
  authenticator?: Authenticator;
  authorizer?: Authorizer;
  /** MQTT 5 enhanced authentication methods offered, by method name. */
  enhancedAuthenticators?: EnhancedAuthenticator[];
  /** Clock, injectable for tests of expiry rules. */
  now?: () => number;
}

export class Broker {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  readonly store: Store;
  readonly committer: GroupCommitter;
  readonly sessions: SessionRegistry;
  readonly router: Router;
  readonly stats = new BrokerStats();
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  readonly enhancedAuthenticators: ReadonlyMap<string, EnhancedAuthenticator>;
  readonly now: () => number;
  /** CONNECTs per client address, when limited. */
  readonly connectRateLimiter: KeyedRateLimiter | undefined;
  /** Connected clients by client id (after CONNACK), for takeover. */
  readonly clients = new Map<string, Connection>();
  private readonly connections = new Set<Connection>();
  private readonly listeners: Listener[];
  private readonly expiryTimers: SessionExpiryTimers;
  private readonly willTimers: WillDelayTimers;
  private addresses: AddressInfo[] = [];
  private state: 'new' | 'starting' | 'running' | 'closing' | 'closed' = 'new';

  constructor(deps: BrokerDependencies) {
    this.config = deps.config;
    this.logger = deps.logger;
    this.store = deps.store;
    this.listeners = deps.listeners;
    this.authenticator = deps.authenticator ?? allowAllAuthenticator;
    this.authorizer = deps.authorizer ?? allowAllAuthorizer;
    this.enhancedAuthenticators = new Map((deps.enhancedAuthenticators ?? []).map((a) => [a.method, a]));
    this.now = deps.now ?? Date.now;
    const connectRate = this.config.limits.maxConnectRatePerAddress;
    if (connectRate > 0) this.connectRateLimiter = new KeyedRateLimiter(connectRate, connectRate, this.now);
    this.committer = new GroupCommitter(this.store, (error, opCount) => {
      this.logger.error({ err: error, opCount }, 'store write failed; the affected acknowledgements are withheld');
    });
    this.sessions = new SessionRegistry(
      this.committer,
      {
        maxInflight: this.config.limits.maxInflight,
        maxQueuedMessages: this.config.limits.maxQueuedMessages,
        maxQueuedBytes: this.config.limits.maxQueuedBytes,
      },
      { onDrop: (session, reason, message) => this.onDrop(session, reason, message), now: () => this.now() },
    );
    this.router = new Router(this.sessions, this.committer, {
      maxRetainedMessages: this.config.limits.maxRetainedMessages,
      maxRetainedBytes: this.config.limits.maxRetainedBytes,
      sharedStrategy: this.config.sharedSubscriptionStrategy,
      ...(this.authorizer.canReceive
        ? { canReceive: (session: Session, topic: string) => this.authorizer.canReceive!({ clientId: session.clientId, username: session.username }, topic) }
        : {}),
      onRetainRefused: (message) => {
        this.stats.retainedRefused++;
        // One line per hundred refusals: a full retained store is a steady state, not an event.
        if (this.stats.retainedRefused % 100 === 1) {
          this.logger.warn({ topic: message.topic, retained: this.router.retained.size }, 'retained store full; new retained topics are not kept');
        }
      },
    });
    this.expiryTimers = new SessionExpiryTimers(this.now, (clientId) => this.expireSession(clientId));
    this.willTimers = new WillDelayTimers((clientId) => {
      const session = this.sessions.get(clientId);
      if (session && !session.isOnline) this.publishWill(session);
    });
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** Opens the store, recovers what it holds, then starts every listener. */
  async listen(): Promise<AddressInfo[]> {
    if (this.state !== 'new') throw new Error(`broker cannot listen: it is ${this.state}`);
    this.state = 'starting';
    try {
      await this.store.open();
      await this.recover();
      this.addresses = [];
      for (const listener of this.listeners) {
        const address = await listener.start((stream, info) => this.accept(stream, info));
        this.addresses.push(address);
        this.logger.info({ listener: listener.description, address: address.address, port: address.port }, 'listening');
      }
    } catch (error) {
      this.state = 'closing';
      await Promise.allSettled(this.listeners.map((l) => l.close()));
      await this.store.close().catch(() => undefined);
      this.state = 'closed';
      throw error;
    }
    this.state = 'running';
    return this.addresses;
  }

  /** The bound address of the first listener. */
  address(): AddressInfo {
    const address = this.addresses[0];
    if (!address) throw new Error('broker is not listening');
    return address;
  }

  get boundAddresses(): readonly AddressInfo[] {
    return this.addresses;
  }

  /**
   * Stops accepting, tells MQTT 5 clients the server is shutting down, closes every connection,
   * waits for pending store writes, then closes the store. Sessions stay in the store.
   */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.state = 'closing';
    // A listener's close resolves only once its connections are gone, so close those meanwhile.
    const listenersClosed = Promise.allSettled(this.listeners.map((l) => l.close()));
    for (const connection of [...this.connections]) {
      connection.disconnectWithReason(ReasonCode.ServerShuttingDown);
      // A broker shutdown is not the client's fault: its will is kept, not published (as
      // Mosquitto does on a clean stop); the client reconnects and resumes.
      connection.isDisconnectClean = true;
      connection.destroy('broker shutting down');
    }
    this.expiryTimers.cancelAll();
    this.willTimers.cancelAll();
    await listenersClosed;
    await this.committer.drain();
    await this.store.close();
    this.state = 'closed';
    this.logger.info('stopped');
  }

  private accept(stream: Duplex, info: ConnectionInfo): void {
    const remoteAddress = info.remoteAddress;
    if (this.state !== 'running') {
      stream.destroy();
      return;
    }
    if (this.connections.size >= this.config.limits.maxConnections) {
      this.logger.warn({ remoteAddress, maxConnections: this.config.limits.maxConnections }, 'connection refused: limit reached');
      stream.destroy();
      return;
    }
    this.stats.connectionsAccepted++;
    this.connections.add(new Connection(this, stream, info));
  }

  // --- sessions ---------------------------------------------------------------------------

  /** Loads sessions, subscriptions and retained messages; queues load when their client returns. */
  private async recover(): Promise<void> {
    const now = this.now();
    const stored = await this.store.loadSessions();
    let expired = 0;
    for (const storedSession of stored) {
      const { session: record, subscriptions } = storedSession;
      const disconnectedAt = record.disconnectedAt ?? now;
      if (SessionExpiryTimers.expiresAt(disconnectedAt, record.expiryInterval) <= now) {
        this.committer.add({ type: 'deleteSession', clientId: record.clientId });
        expired++;
        continue;
      }
      const session = this.sessions.create(record.clientId, record.protocolVersion, record.expiryInterval);
      session.disconnectedAt = disconnectedAt;
      session.username = record.username;
      session.markRecovered(storedSession.firstOutgoingSeq, storedSession.nextOutgoingSeq);
      for (const subscription of subscriptions) {
        session.subscriptions.set(subscription.filter, subscription);
        this.router.addSubscription(record.clientId, subscription);
      }
      if (record.will) {
        // The client was connected when the broker stopped without a DISCONNECT: its will is due.
        session.will = record.will;
        this.scheduleWill(session);
      }
      if (record.disconnectedAt === undefined) session.saveRecord();
      this.expiryTimers.schedule(record.clientId, disconnectedAt, record.expiryInterval);
    }
    for (const message of await this.store.loadRetained()) this.router.restoreRetained(message);
    await this.committer.drain();
    if (stored.length > 0 || this.router.retained.size > 0) {
      this.logger.info(
        { sessions: this.sessions.size, expired, retained: this.router.retained.size, subscriptions: this.router.subscriptionCount },
        'recovered state from the store',
      );
    }
  }

  /** Reads a recovered session's deliveries and QoS 2 ids from the store before it goes online. */
  async loadSessionState(session: Session): Promise<void> {
    if (session.isOutgoingLoaded) return;
    // Incoming QoS 2 ids only change while the client is connected, which it is not yet.
    const incoming = await this.store.loadIncomingQos2(session.clientId);
    for (const packetId of incoming) session.incomingQos2.add(packetId);
    await session.loadOutgoing(() => this.store.loadOutgoing(session.clientId));
  }

  /** Ends a session: its subscriptions leave the router and the store forgets it. */
  discardSession(session: Session): void {
    for (const filter of session.subscriptions.keys()) this.router.removeSubscription(session.clientId, filter);
    this.expiryTimers.cancel(session.clientId);
    this.willTimers.cancel(session.clientId);
    this.sessions.discard(session);
  }

  /** A session is being resumed or replaced: its timers no longer apply. */
  cancelSessionTimers(clientId: string): void {
    this.expiryTimers.cancel(clientId);
    this.willTimers.cancel(clientId);
  }

  private expireSession(clientId: string): void {
    const session = this.sessions.get(clientId);
    if (!session || session.isOnline) return;
    // A will still waiting for its delay goes out when the session ends [MQTT-3.1.3-9 context].
    if (session.will) this.publishWill(session);
    this.logger.debug({ clientId }, 'session expired');
    this.discardSession(session);
  }

  /** Publishes the session's will now, or after its delay if the session outlives that. */
  scheduleWill(session: Session): void {
    const will = session.will;
    if (!will) return;
    if (will.delayInterval > 0 && session.expiryInterval > 0) {
      this.willTimers.schedule(session.clientId, Math.min(will.delayInterval, session.expiryInterval));
    } else {
      this.publishWill(session);
    }
  }

  publishWill(session: Session): void {
    const will = session.will;
    if (!will) return;
    session.will = undefined;
    session.saveRecord();
    const { delayInterval: _delay, ...message } = will;
    const expiryInterval = message.properties?.messageExpiryInterval;
    if (expiryInterval !== undefined) message.expiresAt = this.now() + expiryInterval * 1000;
    this.stats.messagesReceived++;
    this.router.route(message, session.clientId);
  }

  /** Called once by each connection when it closes. */
  onConnectionClosed(connection: Connection): void {
    this.connections.delete(connection);
    const session = connection.session;
    if (!session) return;
    connection.session = undefined;
    if (this.clients.get(connection.clientId) === connection) {
      this.clients.delete(connection.clientId);
      this.stats.clientsConnected--;
    }
    const now = this.now();
    session.detach(now);
    this.router.redistributeShared(session);
    if (!connection.isDisconnectClean) this.scheduleWill(session);
    else session.will = undefined;
    if (session.expiryInterval === 0) {
      this.discardSession(session);
      return;
    }
    session.saveRecord();
    this.expiryTimers.schedule(session.clientId, now, session.expiryInterval);
  }

  private onDrop(session: Session, reason: DropReason, message: Message): void {
    this.stats.dropped[reason]++;
    // One line per thousand refusals, not one per message: a full queue is a flood by nature.
    if (reason === 'queue-full' && this.stats.dropped['queue-full'] % 1000 === 1) {
      this.logger.warn({ clientId: session.clientId, topic: message.topic, queued: session.queuedCount }, 'queue full; newest messages are refused');
    }
  }
}
