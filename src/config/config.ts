/**
 * The one typed configuration object, in the vocabulary of the design (same names for flags,
 * environment and file), with its defaults and range checks.
 */

import { z } from 'zod';
import {
  authEntrySchema,
  authorizationSchema,
  DEFAULT_LOCKOUT,
  lockoutSchema,
  namedChainSchema,
  usersStoreSchema,
  type AuthEntryConfig,
  type AuthorizationConfig,
  type LockoutConfig,
  type NamedChainConfig,
  type UsersStoreConfig,
} from './auth-config.js';
import { connectorsSchema, type ConnectorConfig } from './connectors.js';

export * from './connectors.js';

export type ListenerType = 'mqtt' | 'mqtts' | 'ws' | 'wss';

export const DEFAULT_PORTS: Record<ListenerType, number> = { mqtt: 1883, mqtts: 8883, ws: 8080, wss: 8081 };

export interface ListenerConfig {
  type: ListenerType;
  host: string;
  port: number;
  /** ws/wss: the HTTP path of the WebSocket endpoint. */
  path?: string;
  /** mqtts/wss: PEM file paths. */
  cert?: string;
  key?: string;
  ca?: string;
  requireClientCert?: boolean;
  /** mqtt, mqtts: expect a HAProxy PROXY protocol (v1/v2) header on every connection (before TLS). */
  proxyProtocol?: boolean;
  /** The name of an `auth.chains` entry: this listener's own authentication/authorization chain. */
  authChain?: string;
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
  /**
   * Largest packet accepted before CONNECT has been accepted (the CONNECT itself, and AUTH during
   * its exchange): an unauthenticated peer is refused at the packet's header beyond it.
   */
  maxConnectPacketSize: number;
  /** Unacknowledged QoS 1/2 deliveries per client (capped further by its Receive Maximum). */
  maxInflight: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  /** Receive Maximum we announce to MQTT 5 clients for their QoS 1/2 publishes. */
  receiveMaximum: number;
  topicAliasMaximum: number;
  /**
   * Most topic aliases Midge assigns to the topics it sends one MQTT 5 client (further bounded by
   * the Topic Alias Maximum the client announced); 0 = never send aliases.
   */
  outgoingTopicAliasMaximum: number;
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
  /** Mosquitto-format password file (`midge passwd` or `mosquitto_passwd` writes it). */
  passwordFile?: string;
  /** Mosquitto-format ACL file. */
  aclFile?: string;
  /** mqtts with client certificates: the certificate's CN (or first SAN) becomes the user name. */
  useIdentityAsUsername: boolean;
  /** Authentication entries tried in order (jwt, http, users, passwordFile, certificate, anonymous). */
  chain?: AuthEntryConfig[];
  /** Authorization entries (aclFile, claims, users) and the outcome when none matches. */
  authorization?: AuthorizationConfig;
  /** Named chains a listener can pick with `authChain`. */
  chains?: Record<string, NamedChainConfig>;
  /** Brute-force lockout of the authentication chain, per address and per user name. */
  lockout: LockoutConfig;
  /** The built-in user store (`<dataDir>/auth/users.json`). */
  users?: UsersStoreConfig;
}

export interface HttpConfig {
  /** Serve /metrics, /health, /ready and the admin API. */
  enabled: boolean;
  host: string;
  port: number;
  /** Bearer token for everything but /health; required when `host` is not loopback. */
  token: string | null;
}

export interface SysConfig {
  /** Seconds between $SYS publications; 0 = off. */
  interval: number;
}

export interface BridgeTopicConfig {
  pattern: string;
  direction: 'out' | 'in' | 'both';
  qos: 0 | 1 | 2;
  localPrefix: string;
  remotePrefix: string;
}

export interface BridgeConfig {
  name: string;
  url: string;
  username?: string;
  password?: string;
  clientId?: string;
  protocolVersion: 4 | 5;
  keepalive: number;
  cleanSession: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  topics: BridgeTopicConfig[];
  reconnectMinMs: number;
  reconnectMaxMs: number;
}

/** Several Midge nodes as one broker on a NATS JetStream engine (README "Cluster"). */
export interface ClusterConfig {
  /** This node's name, unique in the cluster: letters, digits, _ and - . */
  nodeId: string;
  engine: 'nats';
  /** nats:// URLs of the engine's servers. */
  servers: string[];
  /** JetStream replicas of every engine object (3: an ack means stored on 2 of 3 servers). */
  replicas: number;
  /** How long a publish to the engine may stay unacknowledged before it is sent again. */
  ackTimeoutMs: number;
}

export interface BrokerConfig {
  dataDir: string;
  /** null: a single node, no engine. */
  cluster: ClusterConfig | null;
  bridges: BridgeConfig[];
  /** Sinks to backend services, each on its own internal persistent session. */
  connectors: ConnectorConfig[];
  http: HttpConfig;
  sys: SysConfig;
  /** On SIGTERM/SIGINT: how long to wait for connections and store writes before exiting anyway. */
  shutdownTimeoutMs: number;
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
  maxPacketSize: 1024 * 1024,
  maxConnectPacketSize: 16 * 1024,
  maxInflight: 32,
  maxQueuedMessages: 100_000,
  maxQueuedBytes: 64 * 1024 * 1024,
  receiveMaximum: 32,
  topicAliasMaximum: 64,
  outgoingTopicAliasMaximum: 64,
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
    cluster: null,
    bridges: [],
    connectors: [],
    http: { enabled: true, host: '127.0.0.1', port: 8888, token: null },
    sys: { interval: 10 },
    shutdownTimeoutMs: 10_000,
    auth: { allowAnonymous: false, useIdentityAsUsername: false, lockout: { ...DEFAULT_LOCKOUT } },
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

export const DEFAULT_CLUSTER: Omit<ClusterConfig, 'nodeId'> = {
  engine: 'nats',
  servers: ['nats://127.0.0.1:4222'],
  replicas: 3,
  ackTimeoutMs: 5000,
};

export type ConfigInput = {
  dataDir?: string;
  cluster?: Partial<ClusterConfig> | null;
  /** Each bridge as in the file: the schema fills in the defaults. */
  bridges?: Array<Partial<BridgeConfig> & Pick<BridgeConfig, 'name' | 'url' | 'topics'>>;
  /** Each connector as in the file: the schema fills in the defaults. */
  connectors?: Array<z.input<typeof connectorsSchema>[number]>;
  http?: Partial<HttpConfig>;
  sys?: Partial<SysConfig>;
  shutdownTimeoutMs?: number;
  auth?: Partial<Omit<AuthConfig, 'lockout'>> & { lockout?: Partial<LockoutConfig> };
  sharedSubscriptionStrategy?: SharedSubscriptionStrategy;
  logLevel?: LogLevel;
  store?: Partial<StoreConfig>;
  /** `port` may be left out: each type has its usual one. */
  listeners?: Array<Omit<ListenerConfig, 'port'> & { port?: number }>;
  limits?: Partial<LimitsConfig>;
};

/** Defaults overlaid with the given values, then checked. */
export function resolveConfig(input: ConfigInput = {}): BrokerConfig {
  const base = defaultConfig();
  const config: BrokerConfig = {
    dataDir: input.dataDir ?? base.dataDir,
    cluster: input.cluster ? ({ nodeId: input.cluster.nodeId, ...DEFAULT_CLUSTER, ...input.cluster } as ClusterConfig) : null,
    bridges: (input.bridges ?? []).map((bridge, i) => {
      const parsed = bridgeSchema.safeParse(bridge);
      if (!parsed.success) throw toConfigError(parsed.error, `bridges[${i}].`);
      return parsed.data;
    }),
    connectors: (() => {
      const parsed = connectorsSchema.safeParse(input.connectors ?? []);
      if (!parsed.success) throw toConfigError(parsed.error, 'connectors');
      return parsed.data as ConnectorConfig[];
    })(),
    http: { ...base.http, ...input.http },
    sys: { ...base.sys, ...input.sys },
    shutdownTimeoutMs: input.shutdownTimeoutMs ?? base.shutdownTimeoutMs,
    auth: { ...base.auth, ...input.auth, lockout: { ...base.auth.lockout, ...input.auth?.lockout } },
    sharedSubscriptionStrategy: input.sharedSubscriptionStrategy ?? base.sharedSubscriptionStrategy,
    logLevel: input.logLevel ?? base.logLevel,
    store: { ...base.store, ...input.store },
    // A listener without a port gets its type's usual one (1883, 8883, 8080, 8081).
    listeners: (input.listeners ?? base.listeners).map((l) => ({ ...l, port: l.port ?? DEFAULT_PORTS[l.type] })),
    limits: { ...base.limits, ...input.limits },
  };
  validateConfig(config);
  return config;
}

const int = (min: number, max: number): z.ZodNumber => z.number().int().min(min).max(max);

const listenerSchema = z
  .object({
    type: z.enum(['mqtt', 'mqtts', 'ws', 'wss']),
    host: z.string().min(1),
    port: int(0, 65535).optional(),
    path: z.string().startsWith('/').optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    ca: z.string().min(1).optional(),
    requireClientCert: z.boolean().optional(),
    proxyProtocol: z.boolean().optional(),
    authChain: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((listener, ctx) => {
    const isTls = listener.type === 'mqtts' || listener.type === 'wss';
    if (isTls && (!listener.cert || !listener.key)) ctx.addIssue({ code: 'custom', message: `${listener.type} needs cert and key`, path: ['cert'] });
    if (!isTls && (listener.cert || listener.key || listener.ca || listener.requireClientCert)) {
      ctx.addIssue({ code: 'custom', message: `cert/key/ca/requireClientCert only apply to mqtts and wss`, path: ['type'] });
    }
    if (listener.requireClientCert && !listener.ca) ctx.addIssue({ code: 'custom', message: 'requireClientCert needs ca', path: ['ca'] });
    if (listener.path && listener.type !== 'ws' && listener.type !== 'wss') ctx.addIssue({ code: 'custom', message: 'path only applies to ws and wss', path: ['path'] });
  });

const limitsShape = {
  maxConnections: int(1, 10_000_000),
  maxPacketSize: int(64, 268_435_455),
  maxConnectPacketSize: int(64, 268_435_455),
  maxInflight: int(1, 65_535),
  maxQueuedMessages: int(0, 100_000_000),
  maxQueuedBytes: int(0, Number.MAX_SAFE_INTEGER),
  receiveMaximum: int(1, 65_535),
  topicAliasMaximum: int(0, 65_535),
  outgoingTopicAliasMaximum: int(0, 65_535),
  connectTimeoutMs: int(1, 3_600_000),
  socketBufferBytes: int(1024, 1024 * 1024 * 1024),
  maxRetainedMessages: int(0, 100_000_000),
  maxRetainedBytes: int(0, Number.MAX_SAFE_INTEGER),
  maximumQoS: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  maxKeepAlive: int(1, 65_535),
  maxSubscriptionsPerClient: int(1, 10_000_000),
  maxTopicLength: int(1, 65_535),
  maxTopicLevels: int(1, 65_535),
  maxClientIdLength: int(23, 65_535),
  maxPublishRate: int(0, 100_000_000),
  maxPublishBytesRate: int(0, Number.MAX_SAFE_INTEGER),
  maxConnectRatePerAddress: int(0, 1_000_000),
};

const authShape = {
  allowAnonymous: z.boolean(),
  passwordFile: z.string().min(1).optional(),
  aclFile: z.string().min(1).optional(),
  useIdentityAsUsername: z.boolean(),
  chain: z.array(authEntrySchema).optional(),
  authorization: authorizationSchema.optional(),
  chains: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), namedChainSchema).optional(),
  lockout: lockoutSchema,
  users: usersStoreSchema.optional(),
};

const clusterShape = {
  nodeId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only (1-64)'),
  engine: z.enum(['nats']),
  servers: z.array(z.string().regex(/^(nats|tls):\/\/.+/, 'a nats:// URL')).min(1),
  replicas: int(1, 5),
  ackTimeoutMs: int(100, 600_000),
};
const storeShape = { type: z.enum(['level', 'memory']), fsync: z.boolean() };
const httpShape = { enabled: z.boolean(), host: z.string().min(1), port: int(0, 65535), token: z.string().min(16).nullable() };
const sysShape = { interval: int(0, 86_400) };

const bridgeTopicSchema = z
  .object({
    pattern: z.string().min(1),
    direction: z.enum(['out', 'in', 'both']),
    qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
    localPrefix: z.string().default(''),
    remotePrefix: z.string().default(''),
  })
  .strict();

const bridgeSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
    url: z.string().regex(/^(mqtts?|wss?):\/\/.+/, 'an mqtt://, mqtts://, ws:// or wss:// URL'),
    username: z.string().optional(),
    password: z.string().optional(),
    clientId: z.string().min(1).optional(),
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5),
    keepalive: int(0, 65_535).default(60),
    cleanSession: z.boolean().default(false),
    ca: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    rejectUnauthorized: z.boolean().default(true),
    topics: z.array(bridgeTopicSchema).min(1),
    reconnectMinMs: int(10, 3_600_000).default(500),
    reconnectMaxMs: int(10, 3_600_000).default(60_000),
  })
  .strict();

/** The whole configuration; `.strict()` everywhere so a misspelt key is an error, not ignored. */
export const configSchema = z
  .object({
    dataDir: z.string().min(1),
    cluster: z.object(clusterShape).strict().nullable(),
    bridges: z.array(bridgeSchema),
    connectors: connectorsSchema,
    http: z.object(httpShape).strict(),
    sys: z.object(sysShape).strict(),
    shutdownTimeoutMs: int(0, 600_000),
    auth: z.object(authShape).strict(),
    sharedSubscriptionStrategy: z.enum(SHARED_STRATEGIES as [SharedSubscriptionStrategy, ...SharedSubscriptionStrategy[]]),
    logLevel: z.enum(LOG_LEVELS as [LogLevel, ...LogLevel[]]),
    store: z.object(storeShape).strict(),
    listeners: z.array(listenerSchema).min(1),
    limits: z.object(limitsShape).strict(),
  })
  .strict();

/** What a config file or the environment may give: the same keys, every one optional. */
export const configInputSchema = z
  .object({
    dataDir: z.string().min(1).optional(),
    cluster: z.object(clusterShape).partial().strict().nullable().optional(),
    bridges: z.array(bridgeSchema).optional(),
    connectors: connectorsSchema.optional(),
    http: z.object(httpShape).partial().strict().optional(),
    sys: z.object(sysShape).partial().strict().optional(),
    shutdownTimeoutMs: int(0, 600_000).optional(),
    auth: z.object({ ...authShape, lockout: lockoutSchema.partial() }).partial().strict().optional(),
    sharedSubscriptionStrategy: configSchema.shape.sharedSubscriptionStrategy.optional(),
    logLevel: configSchema.shape.logLevel.optional(),
    store: z.object(storeShape).partial().strict().optional(),
    listeners: z.array(listenerSchema).min(1).optional(),
    limits: z.object(limitsShape).partial().strict().optional(),
  })
  .strict();

/** The first schema issue as one line naming the key path: `limits.maxInflight: …`. */
export function toConfigError(error: z.ZodError, prefix = ''): ConfigError {
  const issue = error.issues[0]!;
  const keys = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys : [];
  const path = [...issue.path, ...(keys.length > 0 ? [keys[0]!] : [])]
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
  const message = keys.length > 0 ? 'unknown key' : issue.message;
  return new ConfigError(`${prefix}${path || '(root)'}`, message);
}

export function validateConfig(config: BrokerConfig): void {
  const result = configSchema.safeParse(config);
  if (!result.success) throw toConfigError(result.error);
  config.listeners.forEach((listener, i) => {
    if (listener.authChain !== undefined && !Object.hasOwn(config.auth.chains ?? {}, listener.authChain)) {
      throw new ConfigError(`listeners[${i}].authChain`, `no chain ${JSON.stringify(listener.authChain)} under auth.chains`);
    }
  });
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
  if (config.http.enabled && config.http.token === null && !isLoopbackHost(config.http.host)) {
    throw new ConfigError('http.token', `the admin HTTP API on ${config.http.host} is reachable from the network: set a token (16+ characters)`);
  }
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
