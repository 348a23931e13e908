/**
 * The `connectors:` list: sinks that carry messages from an internal persistent session to a
 * backend service (HTTP, AMQP 0-9-1, PostgreSQL, Redis Streams), and sources that carry a
 * backend's records (AMQP queue, Redis consumer group, PostgreSQL outbox table) to devices. A
 * connector has a sink, a source, or both. The schema fills in defaults and names the key of
 * anything wrong.
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
  /**
   * Map the MQTT 5 properties to AMQP ones: the remaining Message Expiry → `expiration`,
   * Response Topic → `replyTo`, UTF-8 Correlation Data → `correlationId`, user properties → headers.
   */
  mapProperties: boolean;
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

/** What a source does with a record that matched no session (nothing would store it). */
export type NoSubscriberOutcome = 'dead-letter' | 'ack' | 'requeue';

/** How a backend record becomes an MQTT message (templates read the record's fields). */
export interface SourceMappingConfig {
  /** Template of the topic, e.g. `devices/${device}/cmd`; a `$` topic or a missing field is a bad record. */
  topic: string;
  /** Template of the payload; default: the record's natural payload (AMQP body, `payload` field or column). */
  payload?: string;
  /** `base64`: the rendered payload is base64 and decoded to bytes. */
  payloadEncoding: 'utf8' | 'base64';
  qos: 0 | 1 | 2;
  retain: boolean;
  /** MQTT 5 Message Expiry Interval, seconds from when Midge takes the record: a number or a template. */
  expirySeconds?: number | string;
  userProperties: Record<string, string>;
  contentType?: string;
  onNoSubscriber: NoSubscriberOutcome;
  /** A record that cannot be mapped (missing field, bad topic, bad expiry): dead-letter it or ack (drop) it. */
  onBadRecord: 'dead-letter' | 'ack';
  /** `requeue`: how long the record is held before it goes back to the backend. */
  requeueDelayMs: number;
  /** Reconnect backoff (full jitter) while the backend is down. */
  retryMinMs: number;
  retryMaxMs: number;
}

export interface AmqpSourceConfig extends SourceMappingConfig {
  queue: string;
  /** Unacknowledged deliveries RabbitMQ hands over at once (basic.qos). */
  prefetch: number;
  /** Declare the queue (durable) if missing; otherwise it must exist (a configuration error). */
  assertQueue: boolean;
  /**
   * Map the AMQP message's own properties to MQTT 5 ones (expiration → Message Expiry Interval,
   * an expired one dropped; replyTo → Response Topic; correlationId → Correlation Data;
   * contentType; headers other than x-… → user properties). The templates above override them.
   */
  mapProperties: boolean;
}

export interface RedisStreamSourceConfig extends SourceMappingConfig {
  stream: string;
  group: string;
  /** Stable across restarts, so this consumer's pending entries are read again at start (default `midge-<name>`). */
  consumer?: string;
  batchSize: number;
  blockMs: number;
  /** At start: XAUTOCLAIM entries other consumers left pending this long. */
  claimIdleMs: number;
  /** XDEL after XACK. */
  deleteAfterAck: boolean;
}

export interface PostgresOutboxSourceConfig extends SourceMappingConfig {
  /** The outbox table (`name` or `schema.name`). */
  table: string;
  idColumn: string;
  /** LISTEN channel a trigger NOTIFYs on insert; polling alone when absent. */
  notify?: string;
  pollMs: number;
  batchSize: number;
  /** After Midge committed: delete the rows, or set `doneColumn` = now() (rows with it set are skipped). */
  onDone: 'delete' | 'mark';
  doneColumn: string;
}

export type ConnectorConfig =
  | (ConnectorCommon & { type: 'http'; url: string; sink?: HttpSinkConfig; source?: undefined })
  | (ConnectorCommon & { type: 'amqp'; url: string; password?: string; passwordFile?: string; sink?: AmqpSinkConfig; source?: AmqpSourceConfig })
  | (ConnectorCommon & { type: 'postgres'; url: string; password?: string; passwordFile?: string; sink?: PostgresSinkConfig; source?: PostgresOutboxSourceConfig })
  | (ConnectorCommon & { type: 'redis-stream'; url: string; password?: string; passwordFile?: string; sink?: RedisStreamSinkConfig; source?: RedisStreamSourceConfig });

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
    mapProperties: z.boolean().default(true),
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

const template = z.string().min(1);

const sourceMapping = {
  topic: template,
  payload: z.string().optional(),
  payloadEncoding: z.enum(['utf8', 'base64']).default('utf8'),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
  retain: z.boolean().default(false),
  expirySeconds: z.union([int(1, 0xffffffff), template]).optional(),
  userProperties: z.record(z.string(), z.string()).default({}),
  contentType: z.string().optional(),
  onNoSubscriber: z.enum(['dead-letter', 'ack', 'requeue']).default('dead-letter'),
  onBadRecord: z.enum(['dead-letter', 'ack']).default('dead-letter'),
  requeueDelayMs: int(0, 3_600_000).default(5000),
  retryMinMs: int(1, 3_600_000).default(200),
  retryMaxMs: int(1, 3_600_000).default(30_000),
};

/** SQL identifiers are quoted, never spliced from records; this keeps them plain names. */
const sqlName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a plain SQL name (letters, digits, _)');

const amqpSourceSchema = z
  .object({ ...sourceMapping, queue: z.string().min(1), prefetch: int(1, 10_000).default(32), assertQueue: z.boolean().default(false), mapProperties: z.boolean().default(true) })
  .strict();

const redisSourceSchema = z
  .object({
    ...sourceMapping,
    stream: z.string().min(1),
    group: z.string().min(1).default('midge'),
    consumer: z.string().min(1).optional(),
    batchSize: int(1, 10_000).default(100),
    blockMs: int(10, 60_000).default(1000),
    claimIdleMs: int(0, 86_400_000).default(60_000),
    deleteAfterAck: z.boolean().default(false),
  })
  .strict();

const postgresSourceSchema = z
  .object({
    ...sourceMapping,
    table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/, 'a plain table name, optionally schema.table'),
    idColumn: sqlName.default('id'),
    notify: sqlName.optional(),
    pollMs: int(10, 3_600_000).default(1000),
    batchSize: int(1, 10_000).default(100),
    onDone: z.enum(['delete', 'mark']).default('delete'),
    doneColumn: sqlName.default('done_at'),
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
 * The `queues:` list: durable point-to-point queues. Messages matching `topics` are kept in the
 * queue's own persistent session until one consumer (a client subscribed to `$queue/<name>`)
 * acknowledges them; each goes to exactly one consumer.
 */
export interface QueueConfig {
  name: string;
  /** Topic filters whose messages the queue keeps. */
  topics: string[];
  maxMessages: number;
  maxBytes: number;
  /**
   * At the bound: drop the oldest queued message, drop the newest silently, or refuse the newest
   * (an MQTT 5 publisher hears 0x97 Quota exceeded when no other subscriber took it).
   */
  overflow: 'drop-oldest' | 'drop-newest' | 'reject';
  /** Deliveries to consumers that ended unacknowledged before the message goes to the dead-letter topic. */
  maxDeliveries: number;
  /** Keep QoS 0 messages too (stored and acknowledged like QoS 1). */
  storeQos0: boolean;
  /** Which connected consumer gets the next message. */
  dispatch: 'round-robin' | 'least-in-flight';
  /** Default `$dlq/<name>`. */
  deadLetterTopic: string;
}

const queueEntrySchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
    topics: z.array(z.string().min(1)).min(1),
    maxMessages: int(1, 100_000_000).default(1_000_000),
    maxBytes: int(1, Number.MAX_SAFE_INTEGER).default(1024 * 1024 * 1024),
    overflow: z.enum(['drop-oldest', 'drop-newest', 'reject']).default('drop-oldest'),
    maxDeliveries: int(1, 1000).default(5),
    storeQos0: z.boolean().default(false),
    dispatch: z.enum(['round-robin', 'least-in-flight']).default('round-robin'),
    deadLetterTopic: z.string().startsWith('$', 'a $ topic, so # subscribers never see it').optional(),
  })
  .strict()
  .transform((q) => ({ ...q, deadLetterTopic: q.deadLetterTopic ?? `$dlq/${q.name}` }));

export const queuesSchema = z.array(queueEntrySchema).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.forEach((q, i) => {
    if (seen.has(q.name)) ctx.addIssue({ code: 'custom', message: `duplicate queue name ${q.name}`, path: [i, 'name'] });
    seen.add(q.name);
  });
});
