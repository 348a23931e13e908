/**
 * The `connectors:` list: sinks that carry messages from an internal persistent session to a
 * backend service (HTTP, AMQP 0-9-1, PostgreSQL, Redis Streams). The schema fills in defaults and
 * names the key of anything wrong.
 */
import { z } from 'zod';

export type ConnectorOrdering = 'per-topic' | 'per-client' | 'strict' | 'none';

export interface ConnectorDeliveryConfig {
  /** Most messages handed to the backend in one batch. */
  batchSize: number;
  /** How long a partial batch waits for more messages before it goes anyway. */
  maxWaitMs: number;
  /** Batches outstanding at the backend at once. */
  inflight: number;
  ordering: ConnectorOrdering;
  /** per-client ordering: the lane key (Midge's stored delivery does not carry the publisher's id; devices publish under their own topic level). */
  orderingKey: string;
  /** Full-jitter backoff for transient errors (retried forever) and the probe interval while paused. */
  retryMinMs: number;
  retryMaxMs: number;
  /** Data errors: attempts before the message goes to the dead-letter topic. */
  deadLetterAfterAttempts: number;
  /** Default `$dlq/<name>`. */
  deadLetterTopic: string;
}

export interface ConnectorQueueConfig {
  maxMessages: number;
  maxBytes: number;
  /** At the bound: drop the oldest queued message (default) or refuse the newest. */
  overflow: 'drop-oldest' | 'drop-newest';
}

interface ConnectorCommon {
  name: string;
  delivery: ConnectorDeliveryConfig;
  queue: ConnectorQueueConfig;
}

export interface SinkCommon {
  /** Topic filters the connector's session subscribes to. */
  topics: string[];
  /** Keep QoS 0 messages for the connector (stored and confirmed like QoS 1). */
  storeQos0: boolean;
}

export interface HttpSinkConfig extends SinkCommon {
  method: 'POST' | 'PUT' | 'PATCH';
  /** `each`: one request per message; `batch`: one request per batch (a JSON array). */
  bodyMode: 'each' | 'batch';
  headers: Record<string, string>;
  /** Template of the body; default: the JSON envelope. */
  body?: string;
  timeoutMs: number;
  /** Statuses that mean "the configuration is wrong": pause, keep queueing. */
  pauseOn: number[];
}

export interface AmqpSinkConfig extends SinkCommon {
  exchange: string;
  routingKey: string;
  /** Template of the body; default: the payload as published. */
  body?: string;
  persistent: boolean;
  mandatory: boolean;
  contentType?: string;
  timeoutMs: number;
}

export interface PostgresSinkConfig extends SinkCommon {
  /** One row's statement, `${…}` placeholders bound as $1.., never spliced. */
  sql: string;
  timeoutMs: number;
}

export interface RedisStreamSinkConfig extends SinkCommon {
  stream: string;
  fields: Record<string, string>;
  /** XADD MAXLEN ~ n, 0 = no trimming. */
  maxLen: number;
  timeoutMs: number;
}

export type ConnectorConfig =
  | (ConnectorCommon & { type: 'http'; url: string; sink: HttpSinkConfig })
  | (ConnectorCommon & { type: 'amqp'; url: string; password?: string; passwordFile?: string; sink: AmqpSinkConfig })
  | (ConnectorCommon & { type: 'postgres'; url: string; password?: string; passwordFile?: string; sink: PostgresSinkConfig })
  | (ConnectorCommon & { type: 'redis-stream'; url: string; password?: string; passwordFile?: string; sink: RedisStreamSinkConfig });

const int = (min: number, max: number): z.ZodNumber => z.number().int().min(min).max(max);

const deliverySchema = z
  .object({
    batchSize: int(1, 10_000).default(100),
    maxWaitMs: int(0, 60_000).default(20),
    inflight: int(1, 256).default(4),
    ordering: z.enum(['per-topic', 'per-client', 'strict', 'none']).default('per-topic'),
    orderingKey: z.string().min(1).default('${topic.1}'),
    retryMinMs: int(1, 3_600_000).default(200),
    retryMaxMs: int(1, 3_600_000).default(60_000),
    deadLetterAfterAttempts: int(1, 1000).default(3),
    deadLetterTopic: z.string().startsWith('$', 'a $ topic, so # subscribers never see it').optional(),
  })
  .strict()
  .refine((d) => d.batchSize * d.inflight <= 65_000, { message: 'batchSize × inflight must stay within 65000 (MQTT packet ids)', path: ['inflight'] });

const queueSchema = z
  .object({
    maxMessages: int(0, 100_000_000).default(1_000_000),
    maxBytes: int(0, Number.MAX_SAFE_INTEGER).default(1024 * 1024 * 1024),
    overflow: z.enum(['drop-oldest', 'drop-newest']).default('drop-oldest'),
  })
  .strict();

const sinkCommon = {
  topics: z.array(z.string().min(1)).min(1),
  storeQos0: z.boolean().default(false),
};

const timeoutMs = int(100, 600_000).default(10_000);

const httpSinkSchema = z
  .object({
    ...sinkCommon,
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
    bodyMode: z.enum(['each', 'batch']).default('batch'),
    headers: z.record(z.string(), z.string()).default({}),
    body: z.string().optional(),
    timeoutMs,
    pauseOn: z.array(int(400, 599)).default([401, 403, 404, 407]),
  })
  .strict();

const amqpSinkSchema = z
  .object({
    ...sinkCommon,
    exchange: z.string().default('amq.topic'),
    routingKey: z.string().min(1).default('${topic|dots}'),
    body: z.string().optional(),
    persistent: z.boolean().default(true),
    mandatory: z.boolean().default(true),
    contentType: z.string().optional(),
    timeoutMs,
  })
  .strict();

const postgresSinkSchema = z.object({ ...sinkCommon, sql: z.string().min(1), timeoutMs }).strict();

const redisSinkSchema = z
  .object({
    ...sinkCommon,
    stream: z.string().min(1),
    fields: z.record(z.string(), z.string()).default({ id: '${msgid}', topic: '${topic}', payload: '${payload}' }),
    maxLen: int(0, Number.MAX_SAFE_INTEGER).default(0),
    timeoutMs,
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

export const connectorSchema = z
  .discriminatedUnion('type', [
    z.object({ ...common, type: z.literal('http'), url: z.string().regex(/^https?:\/\/.+/, 'an http:// or https:// URL (template)'), sink: httpSinkSchema }).strict(),
    z.object({ ...common, ...secrets, type: z.literal('amqp'), url: z.string().regex(/^amqps?:\/\/.+/, 'an amqp:// or amqps:// URL'), sink: amqpSinkSchema }).strict(),
    z.object({ ...common, ...secrets, type: z.literal('postgres'), url: z.string().regex(/^postgres(ql)?:\/\/.+/, 'a postgres:// URL'), sink: postgresSinkSchema }).strict(),
    z.object({ ...common, ...secrets, type: z.literal('redis-stream'), url: z.string().regex(/^rediss?:\/\/.+/, 'a redis:// URL'), sink: redisSinkSchema }).strict(),
  ])
  .transform(withDeadLetterDefault);

export const connectorsSchema = z.array(connectorSchema).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.forEach((c, i) => {
    if (seen.has(c.name)) ctx.addIssue({ code: 'custom', message: `duplicate connector name ${c.name}`, path: [i, 'name'] });
    seen.add(c.name);
  });
});
