/**
 * Redis Streams sink (ioredis): one XADD per message, pipelined per batch, fields from templates.
 * The XADD reply is the confirmation (with appendonly, Redis 7.0's `appendfsync everysec` may
 * still lose about a second of replies on a power cut; WAITAOF needs 7.2).
 */
import type { Redis } from 'ioredis';
import type { RedisStreamSinkConfig } from '../../config/index.js';
import { SinkError } from '../errors.js';
import { Template } from '../template.js';
import type { ConnectorMessage, Sink } from '../types.js';

export interface RedisStreamSinkSettings {
  url: string;
  sink: RedisStreamSinkConfig;
}

export function classifyRedisError(error: unknown): SinkError {
  const message = ((error as Error).message ?? String(error)).replace(/rediss?:\/\/[^@\s]*@/g, 'redis://***@').slice(0, 160);
  if (/^(NOAUTH|WRONGPASS|NOPERM)/.test(message)) return new SinkError('configuration', `redis: ${message}`, { cause: error });
  if (/^WRONGTYPE/.test(message)) return new SinkError('configuration', `redis: ${message}`, { cause: error });
  if (/^ERR .*(Invalid stream ID|syntax|wrong number)/i.test(message)) return new SinkError('data', `redis: ${message}`, { cause: error });
  return new SinkError('transient', `redis: ${message}`, { cause: error });
}

export class RedisStreamSink implements Sink {
  readonly kind = 'redis-stream';
  private redis: Redis | undefined;
  private readonly stream: Template;
  private readonly fields: Array<[string, Template]>;

  constructor(private readonly settings: RedisStreamSinkSettings) {
    this.stream = new Template(settings.sink.stream);
    this.fields = Object.entries(settings.sink.fields).map(([name, value]) => [name, new Template(value)]);
  }

  async open(): Promise<void> {
    await this.client();
  }

  async close(): Promise<void> {
    this.redis?.disconnect();
    this.redis = undefined;
  }

  private async client(): Promise<Redis> {
    if (this.redis) return this.redis;
    const { Redis } = await import('ioredis');
    // Our retries, not ioredis's: a command fails fast while the server is away.
    this.redis = new Redis(this.settings.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: true,
      commandTimeout: this.settings.sink.timeoutMs,
      connectTimeout: this.settings.sink.timeoutMs,
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    this.redis.on('error', () => undefined);
    return this.redis;
  }

  async send(batch: readonly ConnectorMessage[]): Promise<void> {
    const redis = await this.client();
    const pipeline = redis.pipeline();
    for (const m of batch) {
      const args: string[] = [];
      if (this.settings.sink.maxLen > 0) args.push('MAXLEN', '~', String(this.settings.sink.maxLen));
      args.push('*');
      for (const [name, template] of this.fields) args.push(name, template.render(m));
      pipeline.xadd(this.stream.renderCached(m), ...(args as [string]));
    }
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await pipeline.exec();
    } catch (error) {
      this.reset(redis);
      throw classifyRedisError(error);
    }
    if (!results) {
      this.reset(redis);
      throw new SinkError('transient', 'redis: pipeline aborted');
    }
    const failed = results.findIndex(([error]) => error !== null);
    if (failed >= 0) {
      const classified = classifyRedisError(results[failed]![0]);
      if (classified.errorClass === 'transient') this.reset(redis);
      throw new SinkError(classified.errorClass, classified.reason, { confirmed: failed });
    }
  }

  /** A timeout may leave replies in flight: a fresh connection keeps replies and requests paired. */
  private reset(redis: Redis): void {
    if (this.redis === redis) this.redis = undefined;
    redis.disconnect();
  }
}
