/**
 * The source half of a `connectors:` entry, one shape per backend (AMQP queue, Redis consumer
 * group, PostgreSQL outbox table): where records are read and how each becomes an MQTT message
 * (the templates of the shared mapping). Each type and its schema side by side; connectors.ts
 * joins them into the entry.
 */
import { z } from 'zod';
import { int } from './zod-parts.js';

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

export const amqpSourceSchema = z
  .object({ ...sourceMapping, queue: z.string().min(1), prefetch: int(1, 10_000).default(32), assertQueue: z.boolean().default(false), mapProperties: z.boolean().default(true) })
  .strict();

export const redisSourceSchema = z
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

export const postgresSourceSchema = z
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
