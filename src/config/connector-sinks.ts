/**
 * The sink half of a `connectors:` entry, one shape per backend (HTTP, AMQP 0-9-1, PostgreSQL,
 * Redis Streams): what the connector's session subscribes to and how each message is written
 * there. Each type and its schema side by side; connectors.ts joins them into the entry.
 */
import { z } from 'zod';
import { int } from './zod-parts.js';

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

const sinkCommon = {
  topics: z.array(z.string().min(1)).min(1),
  storeQos0: z.boolean().default(false),
};

const timeoutMs = int(100, 600_000).default(10_000);

export const httpSinkSchema = z
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

export const amqpSinkSchema = z
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

export const postgresSinkSchema = z.object({ ...sinkCommon, sql: z.string().min(1), timeoutMs }).strict();

export const redisSinkSchema = z
  .object({
    ...sinkCommon,
    stream: z.string().min(1),
    fields: z.record(z.string(), z.string()).default({ id: '${msgid}', topic: '${topic}', payload: '${payload}' }),
    maxLen: int(0, Number.MAX_SAFE_INTEGER).default(0),
    timeoutMs,
  })
  .strict();
