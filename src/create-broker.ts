/**
 * Composition: turns a config into a ready Broker with its store, logger and listeners. The CLI
 * and embedding applications both start here.
 */
import path from 'node:path';
import { AclFileAuthorizer, PasswordFileAuthenticator, type Authenticator, type Authorizer, type EnhancedAuthenticator } from './auth/index.js';
import { Bridge } from './bridge/index.js';
import { brokerHost, Connector, connectorRoutes, createSink, publishRoute, registerConnectorMetrics } from './connectors/index.js';
import { Broker, type Listener } from './broker/index.js';
import { checkExposure, ConfigError, resolveConfig, type BrokerConfig, type ConfigInput, type ListenerConfig } from './config/index.js';
import { createLogger, type Logger } from './observability/index.js';
import { LevelStore, MemoryStore, type Store } from './store/index.js';
import { readFileSync } from 'node:fs';
import { TcpListener, TlsListener, WebSocketListener } from './transport/index.js';

export interface CreateBrokerOptions extends ConfigInput {
  /** Shorthand for one MQTT listener (overrides `listeners`). */
  host?: string;
  port?: number;
  logger?: Logger;
  store?: ConfigInput['store'];
  /** A ready Store instance instead of one built from `store`. */
  storeInstance?: Store;
  authenticator?: Authenticator;
  authorizer?: Authorizer;
  enhancedAuthenticators?: EnhancedAuthenticator[];
  now?: () => number;
}

export function createStore(config: BrokerConfig): Store {
  if (config.store.type === 'memory') return new MemoryStore();
  return new LevelStore(path.join(config.dataDir, 'store'), { fsync: config.store.fsync });
}

function passwordFileAuthenticator(config: BrokerConfig): Authenticator | undefined {
  const file = config.auth.passwordFile;
  if (file === undefined) return undefined;
  try {
    return new PasswordFileAuthenticator(file, { allowAnonymous: config.auth.allowAnonymous });
  } catch (error) {
    throw new ConfigError('auth.passwordFile', (error as Error).message);
  }
}

function aclFileAuthorizer(config: BrokerConfig): Authorizer | undefined {
  const file = config.auth.aclFile;
  if (file === undefined) return undefined;
  try {
    return new AclFileAuthorizer(file);
  } catch (error) {
    throw new ConfigError('auth.aclFile', (error as Error).message);
  }
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
      return new TcpListener(config.host, config.port, config.proxyProtocol === true);
    case 'mqtts':
      return new TlsListener({ host: config.host, port: config.port, ...tlsFiles(), proxyProtocol: config.proxyProtocol === true });
    case 'ws':
      return new WebSocketListener({ host: config.host, port: config.port, path: config.path ?? '/mqtt' });
    case 'wss':
      return new WebSocketListener({ host: config.host, port: config.port, path: config.path ?? '/mqtt', tls: tlsFiles() });
  }
}

export function createBroker(options: CreateBrokerOptions = {}): Broker {
  const input: ConfigInput = { ...options };
  if (options.host !== undefined || options.port !== undefined) {
    input.listeners = [{ type: 'mqtt', host: options.host ?? '127.0.0.1', port: options.port ?? 1883 }];
  }
  const config = resolveConfig(input);
  const authenticator = options.authenticator ?? passwordFileAuthenticator(config);
  const authorizer = options.authorizer ?? aclFileAuthorizer(config);
  checkExposure(config, authenticator !== undefined || (options.enhancedAuthenticators?.length ?? 0) > 0 || config.auth.useIdentityAsUsername);
  const logger = options.logger ?? createLogger(config.logLevel);
  const deps: ConstructorParameters<typeof Broker>[0] = {
    config,
    logger,
    store: options.storeInstance ?? createStore(config),
    listeners: config.listeners.map(createListener),
  };
  if (authenticator) deps.authenticator = authenticator;
  if (authorizer) deps.authorizer = authorizer;
  if (options.enhancedAuthenticators) deps.enhancedAuthenticators = options.enhancedAuthenticators;
  if (options.now) deps.now = options.now;
  const broker = new Broker(deps);
  for (const bridge of config.bridges) broker.addService(new Bridge(broker, bridge));
  broker.addAdminRoutes([publishRoute(brokerHost(broker))]);
  const connectors = config.connectors.map((c) => new Connector(brokerHost(broker), c, createSink));
  for (const connector of connectors) broker.addService(connector);
  if (connectors.length > 0) {
    registerConnectorMetrics(broker.metrics.registry, () => connectors.map((c) => c.status));
    broker.addAdminRoutes(connectorRoutes(() => connectors));
  }
  return broker;
}
