/**
 * The source half of a `connectors:` entry, one shape per backend (AMQP queue, Redis consumer
 * group, PostgreSQL outbox table): where records are read and how each becomes an MQTT message
 * (the templates of the shared mapping). Each schema is the one source of its type (`z.output`),
 * its keys' meanings in `.describe()`; connectors.ts joins them into the entry.
 */
import * as z from 'zod';
import { int } from './zod-parts.js';

const template = z.string().min(1);

/** How a backend record becomes an MQTT message (templates read the record's fields). */
const sourceMappingSchema = z.object({
  topic: template.describe('template of the topic, e.g. `devices/${device}/cmd`; a `$` topic or a missing field is a bad record'),
  payload: z.string().optional().describe("template of the payload; default: the record's natural payload (AMQP body, `payload` field or column)"),
  payloadEncoding: z.enum(['utf8', 'base64']).default('utf8').describe('`base64`: the rendered payload is base64 and decoded to bytes'),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
  retain: z.boolean().default(false),
  expirySeconds: z
    .union([int(1, 0xffffffff), template])
    .optional()
    .describe('MQTT 5 Message Expiry Interval, seconds from when Midge takes the record: a number or a template'),
  userProperties: z.record(z.string(), z.string()).default({}),
  contentType: z.string().optional(),
  onNoSubscriber: z.enum(['dead-letter', 'ack', 'requeue']).default('dead-letter').describe('what a source does with a record that matched no session (nothing would store it)'),
  onBadRecord: z
    .enum(['dead-letter', 'ack'])
    .default('dead-letter')
    .describe('a record that cannot be mapped (missing field, bad topic, bad expiry): dead-letter it or ack (drop) it'),
  requeueDelayMs: int(0, 3_600_000).default(5000).describe('`requeue`: how long the record is held before it goes back to the backend'),
  retryMinMs: int(1, 3_600_000).default(200).describe('reconnect backoff (full jitter) while the backend is down: the shortest wait'),
  retryMaxMs: int(1, 3_600_000).default(30_000).describe('reconnect backoff (full jitter) while the backend is down: the longest wait'),
});
const sourceMapping = sourceMappingSchema.shape;

/** SQL identifiers are quoted, never spliced from records; this keeps them plain names. */
const sqlName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a plain SQL name (letters, digits, _)');

export const amqpSourceSchema = z
  .object({
    ...sourceMapping,
    queue: z.string().min(1),
    prefetch: int(1, 10_000).default(32).describe('unacknowledged deliveries RabbitMQ hands over at once (basic.qos)'),
    assertQueue: z.boolean().default(false).describe('declare the queue (durable) if missing; otherwise it must exist (a configuration error)'),
    mapProperties: z
      .boolean()
      .default(true)
      .describe(
        "map the AMQP message's own properties to MQTT 5 ones (expiration → Message Expiry Interval, an expired one dropped; replyTo → Response Topic; correlationId → Correlation Data; contentType; headers other than x-… → user properties); the templates override them",
      ),
  })
  .strict();

export const redisSourceSchema = z
  .object({
    ...sourceMapping,
    stream: z.string().min(1),
    group: z.string().min(1).default('midge'),
    consumer: z
      .string()
      .min(1)
      .optional()
      .describe("stable across restarts, so this consumer's pending entries are read again at start (default `midge-<name>`)"),
    batchSize: int(1, 10_000).default(100),
    blockMs: int(10, 60_000).default(1000),
    claimIdleMs: int(0, 86_400_000).default(60_000).describe('at start: XAUTOCLAIM entries other consumers left pending this long'),
    deleteAfterAck: z.boolean().default(false).describe('XDEL after XACK'),
  })
  .strict();

export const postgresSourceSchema = z
  .object({
    ...sourceMapping,
    table: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/, 'a plain table name, optionally schema.table')
      .describe('the outbox table (`name` or `schema.name`)'),
    idColumn: sqlName.default('id'),
    notify: sqlName.optional().describe('LISTEN channel a trigger NOTIFYs on insert; polling alone when absent'),
    pollMs: int(10, 3_600_000).default(1000),
    batchSize: int(1, 10_000).default(100),
    onDone: z.enum(['delete', 'mark']).default('delete').describe('after Midge committed: delete the rows, or set `doneColumn` = now() (rows with it set are skipped)'),
    doneColumn: sqlName.default('done_at'),
  })
  .strict();

/** How a backend record becomes an MQTT message (templates read the record's fields). */
export type SourceMappingConfig = z.output<typeof sourceMappingSchema>;
/** What a source does with a record that matched no session (nothing would store it). */
export type NoSubscriberOutcome = SourceMappingConfig['onNoSubscriber'];
export type AmqpSourceConfig = z.output<typeof amqpSourceSchema>;
export type RedisStreamSourceConfig = z.output<typeof redisSourceSchema>;
export type PostgresOutboxSourceConfig = z.output<typeof postgresSourceSchema>;
