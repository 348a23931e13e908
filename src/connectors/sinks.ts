/**
 * Builds a connector's sink. Each sink module (and its client library) is imported only when a
 * connector of that type is configured: a broker without connectors pays nothing for them.
 */
import { readFileSync } from 'node:fs';
import { hasSink, type ConnectorConfig } from '../config/index.js';
import { resolveSecrets } from './template.js';
import type { Sink } from './types.js';

/** The URL with the password from `password`/`passwordFile` put in, secrets resolved. */
export function urlWithPassword(config: { url: string; password?: string; passwordFile?: string }, env: NodeJS.ProcessEnv): string {
  const url = resolveSecrets(config.url, env, readSecretFile);
  const password = config.passwordFile !== undefined ? readSecretFile(config.passwordFile) : config.password !== undefined ? resolveSecrets(config.password, env, readSecretFile) : undefined;
  if (password === undefined) return url;
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

function readSecretFile(path: string): string {
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
}

export async function createSink(config: ConnectorConfig, env: NodeJS.ProcessEnv = process.env): Promise<Sink> {
  if (!hasSink(config)) throw new Error(`connector ${config.name} has no sink`);
  switch (config.type) {
    case 'http': {
      const { HttpSink } = await import('./sinks/http.js');
      const headers = Object.fromEntries(Object.entries(config.sink.headers).map(([k, v]) => [k, resolveSecrets(v, env, readSecretFile)]));
      return new HttpSink({ url: resolveSecrets(config.url, env, readSecretFile), headers, sink: config.sink });
    }
    case 'amqp': {
      const { AmqpSink } = await import('./sinks/amqp.js');
      return new AmqpSink({ url: urlWithPassword(config, env), sink: config.sink });
    }
    case 'postgres': {
      const { PostgresSink } = await import('./sinks/postgres.js');
      return new PostgresSink({ url: urlWithPassword(config, env), sink: config.sink });
    }
    case 'redis-stream': {
      const { RedisStreamSink } = await import('./sinks/redis-stream.js');
      return new RedisStreamSink({ url: urlWithPassword(config, env), sink: config.sink });
    }
  }
}
