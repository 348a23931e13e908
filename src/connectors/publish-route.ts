/**
 * `POST /api/v1/publish` on the admin listener (behind its token): a backend publishes a command
 * to devices over HTTP. It answers only after the commit that queued the message for every
 * matching persistent session — 200 `{ matched }` — or 202 `{ matched: 0 }` when no session
 * matched (nothing was stored: the caller decides whether to retry, as EMQX's API maps it).
 */
import * as z from 'zod';
import type { HttpRoute } from '../observability/index.js';
import type { MessageProperties } from '../store/index.js';
import { isValidTopicName } from '../topics/index.js';
import type { ConnectorHost } from './host.js';

const publishSchema = z
  .object({
    topic: z.string().min(1),
    payload: z.string().default(''),
    payloadEncoding: z.enum(['utf8', 'base64']).default('utf8'),
    qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
    retain: z.boolean().default(false),
    userProperties: z.record(z.string(), z.string()).optional(),
    contentType: z.string().optional(),
    /** MQTT 5 Message Expiry Interval, seconds: no stale command reaches a device after an outage. */
    messageExpiryInterval: z.number().int().min(1).max(0xffffffff).optional(),
  })
  .strict();

export function publishRoute(host: ConnectorHost): HttpRoute {
  return {
    method: 'POST',
    path: /^\/api\/v1\/publish$/,
    // The HTTP server has parsed the JSON body already (and answered 400 for one that is not JSON).
    handle: async (_params, _query, body) => {
      const parsed = publishSchema.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return { status: 400, body: { error: `${issue.path.join('.') || '(body)'}: ${issue.message}` } };
      }
      const p = parsed.data;
      if (!isValidTopicName(p.topic) || p.topic.startsWith('$')) return { status: 400, body: { error: 'topic must be a topic name (not a $ topic)' } };
      const properties: MessageProperties = {};
      if (p.userProperties) properties.userProperties = p.userProperties;
      if (p.contentType !== undefined) properties.contentType = p.contentType;
      if (p.messageExpiryInterval !== undefined) properties.messageExpiryInterval = p.messageExpiryInterval;
      const matched = await host.publish(
        {
          topic: p.topic,
          payload: Buffer.from(p.payload, p.payloadEncoding === 'base64' ? 'base64' : 'utf8'),
          qos: p.qos,
          retain: p.retain,
          ...(Object.keys(properties).length > 0 ? { properties } : {}),
          ...(p.messageExpiryInterval !== undefined ? { expiresAt: host.now() + p.messageExpiryInterval * 1000 } : {}),
        },
        '$api/publish',
      );
      return { status: matched > 0 ? 200 : 202, body: { matched } };
    },
  };
}
