/**
 * The `connectors:` list: sinks that carry messages from an internal persistent session to a
 * backend service (HTTP, AMQP 0-9-1, PostgreSQL, Redis Streams), and sources that carry a
 * backend's records (AMQP queue, Redis consumer group, PostgreSQL outbox table) to devices. A
 * connector has a sink, a source, or both. The schema fills in defaults and names the key of
 * anything wrong. What an entry has in common (delivery, queue, the type and URL) is here; each
 * backend's sink and source shapes are connector-sinks.ts' and connector-sources.ts'.
 */
import * as z from 'zod';
import { amqpSinkSchema, httpSinkSchema, postgresSinkSchema, redisSinkSchema } from './connector-sinks.js';
import { amqpSourceSchema, postgresSourceSchema, redisSourceSchema } from './connector-sources.js';
import { int } from './zod-parts.js';

const deliverySchema = z
  .object({
    batchSize: int(1, 10_000).default(100).describe('most messages handed to the backend in one batch'),
    maxWaitMs: int(0, 60_000).default(20).describe('how long a partial batch waits for more messages before it goes anyway'),
    inflight: int(1, 256).default(4).describe('batches outstanding at the backend at once'),
    ordering: z.enum(['per-topic', 'per-client', 'strict', 'none']).default('per-topic'),
    orderingKey: z
      .string()
      .min(1)
      .default('${topic.1}')
      .describe("per-client ordering: the lane key (Midge's stored delivery does not carry the publisher's id; devices publish under their own topic level)"),
    retryMinMs: int(1, 3_600_000)
      .default(200)
      .describe('full-jitter backoff for transient errors (retried forever) and the probe interval while paused: the shortest wait'),
    retryMaxMs: int(1, 3_600_000)
      .default(60_000)
      .describe('full-jitter backoff for transient errors (retried forever) and the probe interval while paused: the longest wait'),
    deadLetterAfterAttempts: int(1, 1000).default(3).describe('data errors: attempts before the message goes to the dead-letter topic'),
    deadLetterTopic: z.string().startsWith('$', 'a $ topic, so # subscribers never see it').optional().describe('default `$dlq/<name>`'),
  })
  .strict()
  .refine((d) => d.batchSize * d.inflight <= 65_000, { message: 'batchSize × inflight must stay within 65000 (MQTT packet ids)', path: ['inflight'] });

const queueSchema = z
  .object({
    maxMessages: int(0, 100_000_000).default(1_000_000),
    maxBytes: int(0, Number.MAX_SAFE_INTEGER).default(1024 * 1024 * 1024),
    overflow: z
      .enum(['drop-oldest', 'drop-newest'])
      .default('drop-oldest')
      .describe('at the bound: drop the oldest queued message (default) or refuse the newest'),
  })
  .strict();

const common = {
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
  delivery: deliverySchema.default(deliverySchema.parse({})),
  queue: queueSchema.default(queueSchema.parse({})),
};
const secrets = { password: z.string().optional(), passwordFile: z.string().min(1).optional() };

const withDeadLetterDefault = <T extends { name: string; delivery: z.infer<typeof deliverySchema> }>(c: T): T & { delivery: { deadLetterTopic: string } } => ({
  ...c,
  delivery: { ...c.delivery, deadLetterTopic: c.delivery.deadLetterTopic ?? `$dlq/${c.name}` },
});

const withConsumerDefault = <T extends { name: string; type: string; source?: unknown }>(c: T): T =>
  c.type === 'redis-stream' && c.source !== undefined && (c.source as { consumer?: string }).consumer === undefined
    ? { ...c, source: { ...(c.source as object), consumer: `midge-${c.name}` } }
    : c;

const sinkOrSource = (c: { sink?: unknown; source?: unknown }): boolean => c.sink !== undefined || c.source !== undefined;
const sinkOrSourceMessage = { message: 'a connector needs a sink, a source or both', path: ['sink'] };

export const connectorSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        ...common,
        type: z.literal('http'),
        url: z.string().regex(/^https?:\/\/.+/, 'an http:// or https:// URL (template)'),
        sink: httpSinkSchema,
        // POST /api/v1/publish is the HTTP way in.
        source: z.undefined({ error: 'an http connector has no source (POST /api/v1/publish takes commands over HTTP)' }).optional(),
      })
      .strict(),
    z
      .object({ ...common, ...secrets, type: z.literal('amqp'), url: z.string().regex(/^amqps?:\/\/.+/, 'an amqp:// or amqps:// URL'), sink: amqpSinkSchema.optional(), source: amqpSourceSchema.optional() })
      .strict()
      .refine(sinkOrSource, sinkOrSourceMessage),
    z
      .object({ ...common, ...secrets, type: z.literal('postgres'), url: z.string().regex(/^postgres(ql)?:\/\/.+/, 'a postgres:// URL'), sink: postgresSinkSchema.optional(), source: postgresSourceSchema.optional() })
      .strict()
      .refine(sinkOrSource, sinkOrSourceMessage),
    z
      .object({ ...common, ...secrets, type: z.literal('redis-stream'), url: z.string().regex(/^rediss?:\/\/.+/, 'a redis:// URL'), sink: redisSinkSchema.optional(), source: redisSourceSchema.optional() })
      .strict()
      .refine(sinkOrSource, sinkOrSourceMessage),
  ])
  .transform(withDeadLetterDefault)
  .transform(withConsumerDefault);

export const connectorsSchema = z.array(connectorSchema).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.forEach((c, i) => {
    if (seen.has(c.name)) ctx.addIssue({ code: 'custom', message: `duplicate connector name ${c.name}`, path: [i, 'name'] });
    seen.add(c.name);
  });
});

/**
 * One `connectors:` entry as the broker sees it: defaults filled in, the dead-letter topic set
 * (`$dlq/<name>` when left out). A union on `type`; each member's `sink` and `source` are its
 * backend's shapes (connector-sinks.ts, connector-sources.ts).
 */
export type ConnectorConfig = z.output<typeof connectorSchema>;
export type ConnectorDeliveryConfig = ConnectorConfig['delivery'];
export type ConnectorOrdering = ConnectorDeliveryConfig['ordering'];
export type ConnectorQueueConfig = ConnectorConfig['queue'];

/** A connector with a sink (what the sink machinery is built from). */
export type SinkConnectorConfig = ConnectorConfig extends infer C ? (C extends { sink?: infer S } ? C & { sink: NonNullable<S> } : never) : never;
/** A connector with a source. */
export type SourceConnectorConfig = Exclude<ConnectorConfig, { type: 'http' }> extends infer C ? (C extends { source?: infer S } ? C & { source: NonNullable<S> } : never) : never;

export function hasSink(c: ConnectorConfig): c is SinkConnectorConfig {
  return c.sink !== undefined;
}

export function hasSource(c: ConnectorConfig): c is SourceConnectorConfig {
  return c.source !== undefined;
}
