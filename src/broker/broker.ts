/**
 * The Broker assembles everything: store, commit log, sessions, router, the session lifecycle,
 * the admin API and the listeners. Listeners (or tests, through `handle`) hand it byte streams; it
 * never opens sockets itself, so it can be embedded and tested in-process. Handlers see it only as
 * the `BrokerContext` it builds once (context.ts), the admin API as `BrokerAdmin` (admin.ts).
 * Over ~350 lines: the constructor is the assembly (every part wired once, in order), listen/close
 * the start and stop order, and the rest one-line doors to its parts (the session lifecycle,
 * the counters table, the incident lines in incident-log.ts) for the cluster, services and admin.
 * Its public parts (sessions, router, committer, clients) serve the cluster service; the npm
 * package exports the `EmbeddedBroker` interface, not this class.
 */
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { allowAllAuthenticator, allowAllAuthorizer, type Authenticator, type Authorizer, type EnhancedAuthenticator, type UserStore } from '../auth/index.js';
import { clockWithNow, systemClock, type Clock } from '../clock/index.js';
import type { BrokerConfig } from '../config/index.js';
import { KeepAliveSweep } from './keepalive.js';
import { BrokerMetrics, ClientEventLog, jsonView, OpsHttpServer, type HttpRoute, type Logger } from '../observability/index.js';
import { PacketDecoder, PacketEncoder, ReasonCode } from '../protocol/index.js';
import { SessionRegistry, type OverflowPolicy, type Session } from '../session/index.js';
import { GroupCommitter, type Message, type Store, type StoredSession, type SubscriptionRecord } from '../store/index.js';
import { BrokerAdminView, type BrokerAdmin } from './admin.js';
import { Connection } from './connection.js';
import type { BrokerContext, ClientConnection, ClientRegistry } from './context.js';
import type { EmbeddedBroker } from './embedded.js';
import { IncidentLog } from './incident-log.js';
import { KeyedRateLimiter } from './rate-limit.js';
import { Router } from './router.js';
import { BrokerSessionLifecycle } from './session-lifecycle.js';
import { BrokerStats } from './stats.js';
import { TopicRateCounter } from './topic-rates.js';
import type { BrokerService, ClusterHooks, ConnectionInfo, Listener } from './types.js';
import { adminRoutes } from './admin-api.js';
import { SysTopics } from './sys-topics.js';
import { BROKER_COUNTERS } from './counters-table.js';
import { readCounters, type CounterSources, type CountersReading } from './counters.js';

export interface BrokerDependencies {
  config: BrokerConfig;
  store: Store;
  logger: Logger;
  listeners: Listener[];
  authenticator?: Authenticator;
  authorizer?: Authorizer;
  /** MQTT 5 enhanced authentication methods offered, by method name. */
  enhancedAuthenticators?: EnhancedAuthenticator[];
  /** The built-in user store, when configured: the admin API manages it. */
  userStore?: UserStore;
  /** Time and timers, injectable so tests of the timer rules advance a ManualClock instead of sleeping. */
  clock?: Clock;
  /** Only "now" (real timers): the older form of `clock`, kept working. */
  now?: () => number;
  /** Cluster mode: built by create-broker from `config.cluster`, given the broker later. */
  cluster?: (broker: Broker) => ClusterHooks;
}

export class Broker implements EmbeddedBroker {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  readonly store: Store;
  readonly committer: GroupCommitter;
  readonly sessions: SessionRegistry;
  readonly router: Router;
  readonly stats: BrokerStats;
  /** Every connection's way in and out: the codec doors (one per broker, shared by its connections). */
  readonly decoder = new PacketDecoder();
  readonly encoder: PacketEncoder;
  /** Per-topic message rates for the dashboard's topic tree; counts only while someone reads them. */
  readonly topicRates = new TopicRateCounter(() => this.now());
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  readonly enhancedAuthenticators: ReadonlyMap<string, EnhancedAuthenticator>;
  readonly userStore: UserStore | undefined;
  readonly now: () => number;
  /** Every timer rule (keep-alive, expiry, will delay, CONNECT timeout) runs on this. */
  readonly clock: Clock;
  /** The per-client connect/disconnect lines (summed up above a rate). */
  readonly clientEvents: ClientEventLog;
  /** One timer for every connection's keep-alive. */
  readonly keepAlives: KeepAliveSweep;
  /** CONNECTs per client address, when limited. */
  readonly connectRateLimiter: KeyedRateLimiter | undefined;
  /** Connected clients by client id (after CONNACK), for takeover. */
  readonly clients: ClientRegistry = new Map();
  /** What handlers and connections see of the broker, built once here. */
  readonly context: BrokerContext;
  /** What the admin API, the dashboard and tests see of it. */
  readonly admin: BrokerAdmin;
  private readonly lifecycle: BrokerSessionLifecycle;
  private readonly connections = new Set<ClientConnection>();
  private readonly listeners: Listener[];
  readonly metrics: BrokerMetrics<CountersReading>;
  private readonly httpServer: OpsHttpServer | undefined;
  private readonly sysTopics: SysTopics;
  /** What the counters table (counters-table.ts) reads; one reading per $SYS, /metrics or stats render. */
  private readonly counterSources: CounterSources;
  private httpAddress: AddressInfo | undefined;
  private addresses: AddressInfo[] = [];
  private readonly services: BrokerService[] = [];
  /** The lines for lasting states (full queues, a full retained store, store write failures). */
  private readonly incidents: IncidentLog;
  /** Cluster mode only: the node's link to the others. */
  readonly cluster: ClusterHooks | undefined;
  /** The admin API's routes; services add theirs (connectors). */
  private readonly adminRouteList: HttpRoute[] = [];
  private state: 'new' | 'starting' | 'running' | 'closing' | 'closed' = 'new';

  constructor(deps: BrokerDependencies) {
    this.config = deps.config;
    this.logger = deps.logger;
    this.store = deps.store;
    this.listeners = deps.listeners;
    this.authenticator = deps.authenticator ?? allowAllAuthenticator;
    this.authorizer = deps.authorizer ?? allowAllAuthorizer;
    this.enhancedAuthenticators = new Map((deps.enhancedAuthenticators ?? []).map((a) => [a.method, a]));
    this.userStore = deps.userStore;
    this.clock = deps.clock ?? (deps.now ? clockWithNow(deps.now) : systemClock);
    const clock = this.clock;
    this.now = deps.now ?? (deps.clock ? () => clock.now() : Date.now);
    this.encoder = new PacketEncoder(this.now);
    this.stats = new BrokerStats(this.now());
    this.incidents = new IncidentLog(this.logger, this.stats, this.now);
    const connectRate = this.config.limits.maxConnectRatePerAddress;
    if (connectRate > 0) this.connectRateLimiter = new KeyedRateLimiter(connectRate, connectRate, this.now);
    this.committer = new GroupCommitter(
      this.store,
      (error) => this.logger.error({ err: error }, 'a commit callback failed'),
      (seconds) => this.metrics.observeStoreBatch(seconds),
      {
        onHealthChange: (health, error) => {
          this.incidents.storeHealthChanged(health, error);
          if (this.state === 'running') void this.sysTopics.publishNow();
        },
      },
    );
    this.sessions = new SessionRegistry(
      this.committer,
      {
        maxInflight: this.config.limits.maxInflight,
        maxQueuedMessages: this.config.limits.maxQueuedMessages,
        maxQueuedBytes: this.config.limits.maxQueuedBytes,
      },
      { onDrop: (session, reason, message) => this.incidents.dropped(session, reason, message), now: () => this.now() },
    );
    this.router = new Router(this.sessions, this.committer, {
      maxRetainedMessages: this.config.limits.maxRetainedMessages,
      maxRetainedBytes: this.config.limits.maxRetainedBytes,
      sharedStrategy: this.config.sharedSubscriptionStrategy,
      ...(this.authorizer.canReceive
        ? {
            canReceive: (session: Session, topic: string) =>
              session.isExemptFromReadRules || this.authorizer.canReceive!({ clientId: session.clientId, username: session.username }, topic),
          }
        : {}),
      onRetainRefused: (message) => this.incidents.retainRefused(message, this.router.retained.size),
    });
    this.clientEvents = new ClientEventLog(this.logger, this.clock);
    this.keepAlives = new KeepAliveSweep(this.clock);
    this.lifecycle = new BrokerSessionLifecycle({
      store: this.store,
      committer: this.committer,
      sessions: this.sessions,
      router: this.router,
      clients: this.clients,
      stats: this.stats,
      logger: this.logger,
      clientEvents: this.clientEvents,
      authorizer: this.authorizer,
      now: this.now,
      clock: this.clock,
    });
    this.counterSources = {
      stats: this.stats,
      now: () => this.now(),
      connectedClients: () => this.clients.size,
      sessions: () => this.sessions.values(),
      subscriptions: () => this.router.subscriptionCount,
      retainedMessages: () => this.router.retained.size,
      storeHealth: () => this.committer.health,
      storeBatchesWritten: () => this.committer.writtenBatchCount,
      // Connectors and queues are services too, with their own metrics and a `kind`; bridges have none.
      bridges: () => this.services.map((s) => s.status).filter((s) => (s as { kind?: string }).kind === undefined),
    };
    this.metrics = new BrokerMetrics({ table: BROKER_COUNTERS, read: () => readCounters(this.counterSources) });
    this.cluster = deps.cluster?.(this);
    this.context = {
      config: this.config,
      now: this.now,
      logger: this.logger,
      clientEvents: this.clientEvents,
      stats: this.stats,
      committer: this.committer,
      router: this.router,
      sessions: this.sessions,
      clients: this.clients,
      lifecycle: this.lifecycle,
      authenticator: this.authenticator,
      authorizer: this.authorizer,
      enhancedAuthenticators: this.enhancedAuthenticators,
      connectRateLimiter: this.connectRateLimiter,
      cluster: this.cluster,
      topicRates: this.topicRates,
      clock: this.clock,
      keepAlives: this.keepAlives,
      decoder: this.decoder,
      encoder: this.encoder,
      onConnectionClosed: (connection) => {
        this.connections.delete(connection);
        this.lifecycle.onConnectionClosed(connection);
      },
    };
    this.admin = new BrokerAdminView(this.context, this);
    this.adminRouteList.push(...adminRoutes(this.admin));
    const http = this.config.http;
    if (http.enabled) {
      this.httpServer = new OpsHttpServer({
        host: http.host,
        port: http.port,
        token: http.token,
        routes: this.adminRouteList,
        onError: (error) => this.logger.error({ err: error }, 'admin HTTP request failed'),
      });
    }
    this.sysTopics = new SysTopics(
      this.config.sys.interval,
      async () => readCounters(this.counterSources, await this.store.approximateSize?.()),
      // In memory only: rewritten every interval, so not worth a store write.
      (message) => this.router.route(message, undefined, true),
      (error) => this.logger.warn({ err: error }, '$SYS publication failed'),
    );
  }

  /** The counters as JSON (admin API /api/v1/stats), generated from the counters table. */
  statsSnapshot(): Record<string, unknown> {
    return jsonView(BROKER_COUNTERS, this.counters());
  }

  /** One reading of the counters table (the dashboard's stats stream is generated from it). */
  counters(): CountersReading {
    return readCounters(this.counterSources);
  }

  /**
   * Applies what can change without a restart (SIGHUP): the log level now; password and ACL
   * files through the authenticator/authorizer's own reload when they have one.
   */
  reload(config: BrokerConfig): void {
    if (config.logLevel !== this.logger.level) this.logger.level = config.logLevel;
    this.config.logLevel = config.logLevel;
    void Promise.all([this.authenticator.reload?.(), this.authorizer.reload?.()]).then(
      () => this.logger.info({ logLevel: config.logLevel }, 'configuration reloaded'),
      (error: unknown) => this.logger.error({ err: (error as Error).message }, 'reload of authentication files failed; keeping the old ones'),
    );
  }

  /** Adds a service (a bridge) that starts with the broker and stops before it. */
  addService(service: BrokerService): void {
    this.services.push(service);
  }

  /** More admin API routes (a service's own, e.g. /api/v1/connectors). */
  addAdminRoutes(routes: readonly HttpRoute[]): void {
    this.adminRouteList.push(...routes);
  }

  get serviceList(): readonly BrokerService[] {
    return this.services;
  }

  /** An in-process client's (a bridge's) never-expiring session; see SessionLifecycle. */
  openInternalSession(clientId: string, subscriptions: readonly SubscriptionRecord[], options: { overflowPolicy: OverflowPolicy }): Promise<Session> {
    return this.lifecycle.openInternalSession(clientId, subscriptions, options);
  }

  /** Publishes as an in-process client; resolves once the message's effects are committed. */
  publishInternal(message: Message, publisherId: string): Promise<number> {
    this.stats.countReceived(message.qos, message.payload.length);
    const delivered = this.router.route(message, publisherId);
    return new Promise((resolve, reject) => this.committer.afterCommit((error) => (error ? reject(error) : resolve(delivered))));
  }

  /** A retained message kept in memory only ($SYS-like status topics). */
  publishEphemeralRetained(message: Message): void {
    this.router.route(message, undefined, true);
  }

  /** Where the admin HTTP listener is bound, when enabled. */
  get httpBoundAddress(): AddressInfo | undefined {
    return this.httpAddress;
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
      await this.lifecycle.recover();
      await this.cluster?.start();
      // Services (bridges, connectors) subscribe before any client can publish: a message
      // PUBACKed in between would otherwise have found no session to queue it.
      for (const service of this.services) {
        await service.start().catch((error: unknown) => this.logger.error({ err: error, service: service.name }, 'service failed to start'));
      }
      this.addresses = [];
      for (const listener of this.listeners) {
        const address = await listener.start((stream, info) => this.handle(stream, info));
        this.addresses.push(address);
        this.logger.info({ listener: listener.description, address: address.address, port: address.port }, 'listening');
      }
      if (this.httpServer) {
        this.httpAddress = await this.httpServer.start();
        this.logger.info({ address: this.httpAddress.address, port: this.httpAddress.port }, 'admin HTTP listening (/metrics, /health, /ready, /api/v1, /dashboard/)');
      }
    } catch (error) {
      this.state = 'closing';
      await Promise.allSettled(this.services.map((s) => s.stop()));
      await Promise.allSettled(this.listeners.map((l) => l.close()));
      await this.httpServer?.close();
      await this.cluster?.stop().catch(() => undefined);
      await this.store.close().catch(() => undefined);
      this.state = 'closed';
      throw error;
    }
    this.state = 'running';
    this.sysTopics.start();
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
    this.sysTopics.stop();
    for (const service of this.services) {
      await service.stop().catch((error: unknown) => this.logger.warn({ err: error, service: service.name }, 'service failed to stop cleanly'));
    }
    // A listener's close resolves only once its connections are gone, so close those meanwhile.
    const listenersClosed = Promise.allSettled(this.listeners.map((l) => l.close()));
    for (const connection of [...this.connections]) {
      connection.disconnectWithReason(ReasonCode.ServerShuttingDown);
      // A broker shutdown is not the client's fault: its will is kept, not published (as
      // Mosquitto does on a clean stop); the client reconnects and resumes.
      connection.isDisconnectClean = true;
      connection.destroy('server-shutdown');
    }
    this.lifecycle.cancelAll();
    await listenersClosed;
    await this.httpServer?.close();
    await this.committer.close();
    await this.cluster?.stop();
    await this.store.close();
    this.state = 'closed';
    this.clientEvents.flush();
    this.logger.info('stopped');
  }

  /**
   * Serves one client byte stream (what listeners call for each accepted connection; tests call it
   * with an in-memory duplex). Refused while the broker is not running or at maxConnections.
   */
  handle(stream: Duplex, info: ConnectionInfo): void {
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
    this.connections.add(new Connection(this.context, stream, info));
  }

  // --- the session lifecycle's entries the cluster uses (session-lifecycle.ts) ----------------

  restoreSession(storedSession: StoredSession, now: number): boolean {
    return this.lifecycle.restoreSession(storedSession, now);
  }

  loadSessionState(session: Session): Promise<void> {
    return this.lifecycle.loadSessionState(session);
  }

  discardSession(session: Session): void {
    this.lifecycle.discardSession(session);
  }
}
