/**
 * Composition: turns a config into a ready Broker with its store, logger and listeners. The CLI
 * and embedding applications both start here: `createBroker(config, parts)`, the configuration
 * (plain data, as in a config file) apart from the objects injected in its place.
 */
import path from 'node:path';
import type { Authenticator, Authorizer, EnhancedAuthenticator } from './auth/index.js';
import { Bridge } from './bridge/index.js';
import { createClusterParts } from './cluster/index.js';
import { brokerHost, Connector, connectorRoutes, createSink, createSourceBackend, publishRoute, registerConnectorMetrics, registerSourceMetrics, Source } from './connectors/index.js';
import { Broker, type Listener } from './broker/index.js';
import type { Clock } from './clock/index.js';
import { brokerQueueHost, ClusterQueue, QueueManager, queueRoutes, registerQueueMetrics, type QueueEngine } from './queues/index.js';
import { checkExposure, ConfigError, firstListener, hasSink, hasSource, resolveConfig, type BrokerConfig, type ConfigInput, type ListenerConfig } from './config/index.js';
import { createLogger, type Logger } from './observability/index.js';
import { LevelStore, MemoryStore, type Store } from './store/index.js';
import { readFileSync } from 'node:fs';
import { TcpListener, TlsListener, WebSocketListener } from './transport/index.js';
import { buildSecurity, usesAuthChains } from './security.js';

/** createBroker's configuration: the config keys, and `host`/`port` as shorthand for one MQTT listener (overrides `listeners`). */
export type CreateBrokerConfig = ConfigInput & { host?: string; port?: number };

/** @deprecated The 0.1 name of CreateBrokerConfig (injected objects now go in the second argument). */
export type CreateBrokerOptions = CreateBrokerConfig;

/** Objects the broker uses instead of building its own from the configuration. */
export interface BrokerParts {
  /** A ready Store instead of the one `config.store` describes. */
  store?: Store;
  logger?: Logger;
  authenticator?: Authenticator;
  authorizer?: Authorizer;
  /** Offered besides the ones the configuration builds. */
  enhancedAuthenticators?: EnhancedAuthenticator[];
  /** Time and timers (a ManualClock in tests); wins over `now`. */
  clock?: Clock;
  now?: () => number;
}

/** Keys of BrokerParts, and the 0.1 name of the store instance: objects passed as configuration by mistake. */
const PART_KEYS = ['logger', 'storeInstance', 'authenticator', 'authorizer', 'enhancedAuthenticators', 'clock', 'now'];

export function createStore(config: BrokerConfig): Store {
  if (config.store.type === 'memory') return new MemoryStore();
  return new LevelStore(path.join(config.dataDir, 'store'), { fsync: config.store.fsync });
}

/** Builds the listener a config entry describes. */
export function createListener(config: ListenerConfig): Listener {
  const tlsFiles = (): { cert: Buffer; key: Buffer; ca?: Buffer; requireClientCert?: boolean } => {
    try {
      return {
        cert: readFileSync(config.cert!),
        key: readFileSync(config.key!),
        ...(config.ca ? { ca: readFileSync(config.ca) } : {}),
        ...(config.requireClientCert ? { requireClientCert: true } : {}),
      };
    } catch (error) {
      throw new ConfigError(`listeners (${config.type} ${config.host}:${config.port})`, `cannot read TLS files: ${(error as Error).message}`);
    }
  };
  switch (config.type) {
    case 'mqtt':
      return new TcpListener({ host: config.host, port: config.port, proxyProtocol: config.proxyProtocol === true });
    case 'mqtts':
      return new TlsListener({ host: config.host, port: config.port, ...tlsFiles(), proxyProtocol: config.proxyProtocol === true });
    case 'ws':
      return new WebSocketListener({ host: config.host, port: config.port, path: config.path ?? '/mqtt' });
    case 'wss':
      return new WebSocketListener({ host: config.host, port: config.port, path: config.path ?? '/mqtt', tls: tlsFiles() });
  }
}

/** Tells the broker which listener (by its index in `listeners`) accepted each connection. */
function withListenerIndex(listener: Listener, index: number): Listener {
  return {
    get description() {
      return listener.description;
    },
    start: (accept) => listener.start((stream, info) => accept(stream, { ...info, listenerIndex: index })),
    close: () => listener.close(),
  };
}

export function createBroker(options: CreateBrokerConfig = {}, parts: BrokerParts = {}): Broker {
  const misplaced = PART_KEYS.find((key) => Object.hasOwn(options, key));
  if (misplaced) throw new ConfigError(misplaced, "an object, not configuration: pass it in createBroker's second argument");
  const { host, port, ...input } = options;
  if (host !== undefined || port !== undefined) input.listeners = [firstListener(host, port)];
  const config = resolveConfig(input);
  const baseLogger = parts.logger ?? createLogger(config.logLevel);
  // Cluster mode: every log line names the node; sessions and retained live in the engine.
  const logger = config.cluster ? baseLogger.child({ node: config.cluster.nodeId }) : baseLogger;
  const clock = parts.clock;
  const security = buildSecurity(config, logger, clock ? () => clock.now() : parts.now);
  const authenticator = parts.authenticator ?? security.authenticator;
  const authorizer = parts.authorizer ?? security.authorizer;
  const enhancedAuthenticators = [...security.enhancedAuthenticators, ...(parts.enhancedAuthenticators ?? [])];
  checkExposure(config, authenticator !== undefined || enhancedAuthenticators.length > 0 || config.auth.useIdentityAsUsername);
  const clusterParts = config.cluster ? createClusterParts(config.cluster, logger) : undefined;
  const deps: ConstructorParameters<typeof Broker>[0] = {
    config,
    logger,
    store: parts.store ?? clusterParts?.store ?? createStore(config),
    // Listeners tagged with their index only when chains may differ per listener.
    listeners: config.listeners.map((l, i) => (usesAuthChains(config) ? withListenerIndex(createListener(l), i) : createListener(l))),
  };
  if (clusterParts) deps.cluster = clusterParts.cluster;
  if (authenticator) deps.authenticator = authenticator;
  if (authorizer) deps.authorizer = authorizer;
  if (enhancedAuthenticators.length > 0) deps.enhancedAuthenticators = enhancedAuthenticators;
  if (security.userStore) deps.userStore = security.userStore;
  if (parts.clock) deps.clock = parts.clock;
  else if (parts.now) deps.now = parts.now;
  const broker = new Broker(deps);
  security.attach(broker);
  for (const bridge of config.bridges) broker.addService(new Bridge(broker, bridge));
  broker.addAdminRoutes([publishRoute(brokerHost(broker))]);
  addQueues(broker, config, clusterParts?.queues);
  const connectors = config.connectors.filter(hasSink).map((c) => new Connector(brokerHost(broker), c, createSink));
  for (const connector of connectors) broker.addService(connector);
  const sources = config.connectors.filter(hasSource).map((c) => new Source(brokerHost(broker), c, createSourceBackend));
  for (const source of sources) broker.addService(source);
  if (connectors.length > 0) registerConnectorMetrics(broker.metrics.registry, () => connectors.map((c) => c.status));
  if (sources.length > 0) registerSourceMetrics(broker.metrics.registry, () => sources.map((s) => s.status));
  if (connectors.length + sources.length > 0) broker.addAdminRoutes(connectorRoutes(() => connectors, () => sources));
  return broker;
}

/**
 * Durable queues (`queues:`), and the dead letters of queues and connectors kept for replay
 * (added before the connectors, so their holders are subscribed first).
 * The router learns of `$queue/` consumers now, before recovery restores their subscriptions;
 * the dead-letter holders start before the queues and connectors that publish to them.
 */
function addQueues(broker: Broker, config: BrokerConfig, engineQueues: QueueEngine | undefined): void {
  if (config.queues.length === 0 && config.connectors.length === 0) return;
  // Cluster mode: a queue's messages live in the engine (one stream per queue, shared by every
  // node), not in an internal session each node would hold its own copy of; no dead-letter holders.
  if (config.cluster && config.queues.length === 0) return;
  const host = brokerQueueHost(broker);
  const clusterQueue = engineQueues
    ? (queue: (typeof config.queues)[number]) => new ClusterQueue(host, engineQueues, queue, config.limits.maxInflight, config.sys.interval)
    : undefined;
  const connectorDeadLetters = config.connectors.map((c) => ({
    name: c.name,
    topic: c.delivery.deadLetterTopic,
    targetSessionId: `$connector/${c.name}`,
    maxMessages: c.queue.maxMessages,
    maxBytes: c.queue.maxBytes,
  }));
  const manager = new QueueManager(
    host,
    config.queues,
    connectorDeadLetters,
    { consumerWindow: config.limits.maxInflight, sysIntervalSeconds: config.sys.interval },
    clusterQueue,
  );
  if (manager.queues.length > 0) broker.router.queues = manager;
  for (const service of [...manager.deadLetters, ...manager.queues]) broker.addService(service);
  if (manager.queues.length > 0) registerQueueMetrics(broker.metrics.registry, () => manager.statuses);
  broker.addAdminRoutes(queueRoutes(manager));
}
