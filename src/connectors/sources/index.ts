/**
 * Builds a connector's source backend. Each backend module (and its client library) is imported
 * only when a connector with that source is configured.
 */
import type { SourceConnectorConfig } from '../../config/index.js';
import { urlWithPassword } from '../sinks.js';
import type { SourceBackend } from './types.js';

export { Source, type SourceState, type SourceStatus, type SourceBackendFactory } from './source.js';
export { RecordMapper, RecordTemplate, BadRecord, ExpiredRecord } from './mapping.js';
export type { SourceBackend, SourceHandler, SourceRecord, RecordOutcome, RecordProperties } from './types.js';
export { registerSourceMetrics } from './metrics.js';

export async function createSourceBackend(config: SourceConnectorConfig, env: NodeJS.ProcessEnv = process.env): Promise<SourceBackend> {
  const url = urlWithPassword(config, env);
  switch (config.type) {
    case 'amqp': {
      const { AmqpSource } = await import('./amqp.js');
      return new AmqpSource({ url, source: config.source });
    }
    case 'redis-stream': {
      const { RedisStreamSource } = await import('./redis-stream.js');
      return new RedisStreamSource({ url, source: { ...config.source, consumer: config.source.consumer ?? `midge-${config.name}` } });
    }
    case 'postgres': {
      const { PostgresOutboxSource } = await import('./postgres-outbox.js');
      return new PostgresOutboxSource({ url, source: config.source });
    }
  }
}
