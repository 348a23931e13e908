/**
 * The one typed configuration object, in the vocabulary of the design (same names for flags,
 * environment and file), with its defaults and range checks.
 */

export type ListenerType = 'mqtt';

export interface ListenerConfig {
  type: ListenerType;
  host: string;
  port: number;
}

export interface StoreConfig {
  type: 'level' | 'memory';
  /** Write each commit batch with sync: survives power loss, not only a killed process. */
  fsync: boolean;
}

export interface LimitsConfig {
  maxConnections: number;
  /** Largest MQTT packet accepted, in bytes (whole packet). */
  maxPacketSize: number;
  /** Unacknowledged QoS 1/2 deliveries per client (capped further by its Receive Maximum). */
  maxInflight: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  /** Receive Maximum we announce to MQTT 5 clients for their QoS 1/2 publishes. */
  receiveMaximum: number;
  topicAliasMaximum: number;
  /** A connection that has not sent CONNECT by then is closed. */
  connectTimeoutMs: number;
  /** Bytes buffered for a slow subscriber's socket before deliveries wait in its queue. */
  socketBufferBytes: number;
  maxRetainedMessages: number;
  maxRetainedBytes: number;
  /** Highest QoS accepted from publishers (MQTT 5 Maximum QoS in CONNACK when below 2). */
  maximumQoS: 0 | 1 | 2;
  /** Longest keep-alive allowed, seconds; MQTT 5 clients asking for more (or 0) get Server Keep Alive. */
  maxKeepAlive: number;
  maxSubscriptionsPerClient: number;
  /** Longest topic name or filter, UTF-8 bytes. */
  maxTopicLength: number;
  /** Most '/'-separated levels in a topic name or filter. */
  maxTopicLevels: number;
  maxClientIdLength: number;
  /** PUBLISH packets per second per client, 0 = unlimited; beyond it the client's socket is paused. */
  maxPublishRate: number;
  /** PUBLISH payload bytes per second per client, 0 = unlimited; throttled the same way. */
  maxPublishBytesRate: number;
  /** CONNECTs per second per client address, 0 = unlimited; beyond it CONNACK 0x9F (3.1.1: 3). */
  maxConnectRatePerAddress: number;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type SharedSubscriptionStrategy = 'round-robin' | 'random' | 'sticky';
export const SHARED_STRATEGIES: readonly SharedSubscriptionStrategy[] = ['round-robin', 'random', 'sticky'];

export interface AuthConfig {
  /**
   * Anonymous clients on a non-loopback listener. Off unless said: with no authentication
   * configured, Midge refuses to start listening beyond loopback (as Mosquitto 2 does).
   */
  allowAnonymous: boolean;
}

export interface BrokerConfig {
  dataDir: string;
  auth: AuthConfig;
  /** How a shared subscription group picks the member for each message. */
  sharedSubscriptionStrategy: SharedSubscriptionStrategy;
  logLevel: LogLevel;
  store: StoreConfig;
  listeners: ListenerConfig[];
  limits: LimitsConfig;
}

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const DEFAULT_LIMITS: LimitsConfig = {
  maxConnections: 10_000,
  maxPacketSize: 268_435_455,
  maxInflight: 32,
  maxQueuedMessages: 100_000,
  maxQueuedBytes: 64 * 1024 * 1024,
  receiveMaximum: 65_535,
  topicAliasMaximum: 64,
  connectTimeoutMs: 10_000,
  socketBufferBytes: 1024 * 1024,
  maxRetainedMessages: 100_000,
  maxRetainedBytes: 64 * 1024 * 1024,
  maximumQoS: 2,
  maxKeepAlive: 65_535,
  maxSubscriptionsPerClient: 1000,
  maxTopicLength: 4096,
  maxTopicLevels: 64,
  maxClientIdLength: 256,
  maxPublishRate: 0,
  maxPublishBytesRate: 0,
  maxConnectRatePerAddress: 0,
};

export function defaultConfig(): BrokerConfig {
  return {
    dataDir: './data',
    auth: { allowAnonymous: false },
    sharedSubscriptionStrategy: 'round-robin',
    logLevel: 'info',
    store: { type: 'level', fsync: false },
    listeners: [{ type: 'mqtt', host: '127.0.0.1', port: 1883 }],
    limits: { ...DEFAULT_LIMITS },
  };
}

/** A configuration value that cannot be used; the message names the key path. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

export type ConfigInput = {
  dataDir?: string;
  auth?: Partial<AuthConfig>;
  sharedSubscriptionStrategy?: SharedSubscriptionStrategy;
  logLevel?: LogLevel;
  store?: Partial<StoreConfig>;
  listeners?: ListenerConfig[];
  limits?: Partial<LimitsConfig>;
};

/** Defaults overlaid with the given values, then checked. */
export function resolveConfig(input: ConfigInput = {}): BrokerConfig {
  const base = defaultConfig();
  const config: BrokerConfig = {
    dataDir: input.dataDir ?? base.dataDir,
    auth: { ...base.auth, ...input.auth },
    sharedSubscriptionStrategy: input.sharedSubscriptionStrategy ?? base.sharedSubscriptionStrategy,
    logLevel: input.logLevel ?? base.logLevel,
    store: { ...base.store, ...input.store },
    listeners: input.listeners ?? base.listeners,
    limits: { ...base.limits, ...input.limits },
  };
  validateConfig(config);
  return config;
}

function checkInteger(key: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(key, `expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
}

export function validateConfig(config: BrokerConfig): void {
  if (typeof config.dataDir !== 'string' || config.dataDir === '') {
    throw new ConfigError('dataDir', 'expected a non-empty path');
  }
  if (!SHARED_STRATEGIES.includes(config.sharedSubscriptionStrategy)) {
    throw new ConfigError('sharedSubscriptionStrategy', `expected one of ${SHARED_STRATEGIES.join(', ')}, got ${JSON.stringify(config.sharedSubscriptionStrategy)}`);
  }
  if (!LOG_LEVELS.includes(config.logLevel)) {
    throw new ConfigError('logLevel', `expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(config.logLevel)}`);
  }
  if (config.store.type !== 'level' && config.store.type !== 'memory') {
    throw new ConfigError('store.type', `expected level or memory, got ${JSON.stringify(config.store.type)}`);
  }
  if (typeof config.auth.allowAnonymous !== 'boolean') throw new ConfigError('auth.allowAnonymous', 'expected true or false');
  if (typeof config.store.fsync !== 'boolean') throw new ConfigError('store.fsync', 'expected true or false');
  if (config.listeners.length === 0) throw new ConfigError('listeners', 'expected at least one listener');
  config.listeners.forEach((listener, i) => {
    if (listener.type !== 'mqtt') throw new ConfigError(`listeners[${i}].type`, `expected mqtt, got ${JSON.stringify(listener.type)}`);
    if (typeof listener.host !== 'string' || listener.host === '') throw new ConfigError(`listeners[${i}].host`, 'expected a host name or address');
    checkInteger(`listeners[${i}].port`, listener.port, 0, 65535);
  });
  const l = config.limits;
  checkInteger('limits.maxConnections', l.maxConnections, 1, 10_000_000);
  checkInteger('limits.maxPacketSize', l.maxPacketSize, 64, 268_435_455);
  checkInteger('limits.maxInflight', l.maxInflight, 1, 65_535);
  checkInteger('limits.maxQueuedMessages', l.maxQueuedMessages, 0, 100_000_000);
  checkInteger('limits.maxQueuedBytes', l.maxQueuedBytes, 0, Number.MAX_SAFE_INTEGER);
  checkInteger('limits.receiveMaximum', l.receiveMaximum, 1, 65_535);
  checkInteger('limits.topicAliasMaximum', l.topicAliasMaximum, 0, 65_535);
  checkInteger('limits.connectTimeoutMs', l.connectTimeoutMs, 1, 3_600_000);
  checkInteger('limits.maxRetainedMessages', l.maxRetainedMessages, 0, 100_000_000);
  checkInteger('limits.maxRetainedBytes', l.maxRetainedBytes, 0, Number.MAX_SAFE_INTEGER);
  checkInteger('limits.maximumQoS', l.maximumQoS, 0, 2);
  checkInteger('limits.maxKeepAlive', l.maxKeepAlive, 1, 65_535);
  checkInteger('limits.maxSubscriptionsPerClient', l.maxSubscriptionsPerClient, 1, 10_000_000);
  checkInteger('limits.maxTopicLength', l.maxTopicLength, 1, 65_535);
  checkInteger('limits.maxTopicLevels', l.maxTopicLevels, 1, 65_535);
  checkInteger('limits.maxClientIdLength', l.maxClientIdLength, 23, 65_535);
  checkInteger('limits.maxPublishRate', l.maxPublishRate, 0, 100_000_000);
  checkInteger('limits.maxPublishBytesRate', l.maxPublishBytesRate, 0, Number.MAX_SAFE_INTEGER);
  checkInteger('limits.maxConnectRatePerAddress', l.maxConnectRatePerAddress, 0, 1_000_000);
  checkInteger('limits.socketBufferBytes', l.socketBufferBytes, 1024, 1024 * 1024 * 1024);
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Security by default: a listener beyond loopback needs authentication or an explicit
 * `auth.allowAnonymous: true`; otherwise the broker would be open to the network.
 */
export function checkExposure(config: BrokerConfig, hasAuthentication: boolean): void {
  if (hasAuthentication || config.auth.allowAnonymous) return;
  config.listeners.forEach((listener, i) => {
    if (!isLoopbackHost(listener.host)) {
      throw new ConfigError(
        `listeners[${i}].host`,
        `${listener.host} is reachable from the network but no authentication is configured; set auth.allowAnonymous (--allow-anonymous) to accept anonymous clients there`,
      );
    }
  });
}
