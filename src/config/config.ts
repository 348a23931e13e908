/**
 * The one typed configuration object, in the vocabulary of the design (same names for flags,
 * environment and file). Its keys, defaults and range checks are the schema in schema.ts; this
 * file names the types that derive from it, resolves an input into a config, and holds the
 * checks that need more than one key.
 */

import type { z } from 'zod';
import { configSchema } from './schema.js';

export type * from './connector-sinks.js';
export type * from './connector-sources.js';
export * from './connectors.js';
export * from './queues.js';
export { configInputSchema, configSchema, DEFAULT_PORTS, firstListener, LOG_LEVELS, SHARED_STRATEGIES, type ListenerType, type LogLevel, type SharedSubscriptionStrategy } from './schema.js';

/** The resolved configuration: every default filled in, every value checked. */
export type BrokerConfig = z.output<typeof configSchema>;
/** What a caller, a file or the environment gives: the same keys, each optional where it has a default. */
export type ConfigInput = z.input<typeof configSchema>;

export type ListenerConfig = BrokerConfig['listeners'][number];
export type StoreConfig = BrokerConfig['store'];
export type LimitsConfig = BrokerConfig['limits'];
export type AuthConfig = BrokerConfig['auth'];
export type HttpConfig = BrokerConfig['http'];
export type SysConfig = BrokerConfig['sys'];
export type BridgeConfig = BrokerConfig['bridges'][number];
export type BridgeTopicConfig = BridgeConfig['topics'][number];
/** Several Midge nodes as one broker on a NATS JetStream engine (README "Cluster"). */
export type ClusterConfig = NonNullable<BrokerConfig['cluster']>;

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

/** The defaults of every key: the schema's, read once. */
export function defaultConfig(): BrokerConfig {
  return configSchema.parse({});
}

export const DEFAULT_LIMITS: LimitsConfig = defaultConfig().limits;

export const DEFAULT_CLUSTER: Omit<ClusterConfig, 'nodeId'> = (() => {
  const { nodeId: _nodeId, ...rest } = configSchema.shape.cluster.unwrap().unwrap().parse({ nodeId: 'defaults' });
  return rest;
})();

/** Defaults overlaid with the given values, then checked. */
export function resolveConfig(input: ConfigInput = {}): BrokerConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) throw toConfigError(result.error);
  const config = result.data;
  checkCrossReferences(config);
  return config;
}

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

/** A config built by hand (not by resolveConfig) checked the same way. */
export function validateConfig(config: BrokerConfig): void {
  const result = configSchema.safeParse(config);
  if (!result.success) throw toConfigError(result.error);
  checkCrossReferences(config);
}

/** What one key's schema cannot see: a listener's chain must exist under auth.chains. */
function checkCrossReferences(config: BrokerConfig): void {
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
