/**
 * Composition: turns a config into a ready Broker with its store, logger and listeners. The CLI
 * and embedding applications both start here.
 */
import path from 'node:path';
import type { Authenticator, Authorizer, EnhancedAuthenticator } from './auth/index.js';
import { Bridge } from './bridge/index.js';
import { Broker, type Listener } from './broker/index.js';
import { checkExposure, ConfigError, resolveConfig, type BrokerConfig, type ConfigInput, type ListenerConfig } from './config/index.js';
import { createLogger, type Logger } from './observability/index.js';
import { LevelStore, MemoryStore, type Store } from './store/index.js';
import { TcpListener } from './transport/index.js';

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

/** Builds the listener a config entry describes. */
export function createListener(config: ListenerConfig): Listener {
  switch (config.type) {
    case 'mqtt':
      return new TcpListener(config.host, config.port);
    default:
      throw new ConfigError('listeners', `listener type ${config.type} is not available yet`);
  }
}

export function createBroker(options: CreateBrokerOptions = {}): Broker {
  const input: ConfigInput = { ...options };
  if (options.host !== undefined || options.port !== undefined) {
    input.listeners = [{ type: 'mqtt', host: options.host ?? '127.0.0.1', port: options.port ?? 1883 }];
  }
  const config = resolveConfig(input);
  checkExposure(config, options.authenticator !== undefined || (options.enhancedAuthenticators?.length ?? 0) > 0);
  const logger = options.logger ?? createLogger(config.logLevel);
  const deps: ConstructorParameters<typeof Broker>[0] = {
    config,
    logger,
    store: options.storeInstance ?? createStore(config),
    listeners: config.listeners.map(createListener),
  };
  if (options.authenticator) deps.authenticator = options.authenticator;
  if (options.authorizer) deps.authorizer = options.authorizer;
  if (options.enhancedAuthenticators) deps.enhancedAuthenticators = options.enhancedAuthenticators;
  if (options.now) deps.now = options.now;
  const broker = new Broker(deps);
  for (const bridge of config.bridges) broker.addService(new Bridge(broker, bridge));
  return broker;
}
