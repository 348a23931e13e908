/**
 * The sink half of a `connectors:` entry, one shape per backend (HTTP, AMQP 0-9-1, PostgreSQL,
 * Redis Streams): what the connector's session subscribes to and how each message is written
 * there. Each schema is the one source of its type (`z.output`), its keys' meanings in
 * `.describe()`; connectors.ts joins them into the entry.
 */
import * as z from 'zod';
import { int } from './zod-parts.js';

const sinkCommonSchema = z.object({
  topics: z.array(z.string().min(1)).min(1).describe("topic filters the connector's session subscribes to"),
  storeQos0: z.boolean().default(false).describe('keep QoS 0 messages for the connector (stored and confirmed like QoS 1)'),
});
const sinkCommon = sinkCommonSchema.shape;

const timeoutMs = int(100, 600_000).default(10_000);

export const httpSinkSchema = z
  .object({
    ...sinkCommon,
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
    bodyMode: z.enum(['each', 'batch']).default('batch').describe('`each`: one request per message; `batch`: one request per batch (a JSON array)'),
    headers: z.record(z.string(), z.string()).default({}),
    body: z.string().optional().describe('template of the body; default: the JSON envelope'),
    timeoutMs,
    pauseOn: z.array(int(400, 599)).default([401, 403, 404, 407]).describe('statuses that mean "the configuration is wrong": pause, keep queueing'),
  })
  .strict();

export const amqpSinkSchema = z
  .object({
    ...sinkCommon,
    exchange: z.string().default('amq.topic'),
    routingKey: z.string().min(1).default('${topic|dots}'),
    body: z.string().optional().describe('template of the body; default: the payload as published'),
    persistent: z.boolean().default(true),
    mandatory: z.boolean().default(true),
    contentType: z.string().optional(),
    mapProperties: z
      .boolean()
      .default(true)
      .describe(
        'map the MQTT 5 properties to AMQP ones: the remaining Message Expiry → `expiration`, Response Topic → `replyTo`, UTF-8 Correlation Data → `correlationId`, user properties → headers',
      ),
    timeoutMs,
  })
  .strict();

export const postgresSinkSchema = z
  .object({ ...sinkCommon, sql: z.string().min(1).describe("one row's statement, `${…}` placeholders bound as $1.., never spliced"), timeoutMs })
  .strict();

export const redisSinkSchema = z
  .object({
    ...sinkCommon,
    stream: z.string().min(1),
    fields: z.record(z.string(), z.string()).default({ id: '${msgid}', topic: '${topic}', payload: '${payload}' }),
    maxLen: int(0, Number.MAX_SAFE_INTEGER).default(0).describe('XADD MAXLEN ~ n, 0 = no trimming'),
    timeoutMs,
  })
  .strict();

/** What every sink has: the topic filters and the QoS 0 rule. */
export type SinkCommon = z.output<typeof sinkCommonSchema>;
export type HttpSinkConfig = z.output<typeof httpSinkSchema>;
export type AmqpSinkConfig = z.output<typeof amqpSinkSchema>;
export type PostgresSinkConfig = z.output<typeof postgresSinkSchema>;
export type RedisStreamSinkConfig = z.output<typeof redisSinkSchema>;
