/**
 * The `queues:` list (src/queues/): each entry's type and schema, defaults and bounds.
 */
import * as z from 'zod';
import { int } from './zod-parts.js';

/**
 * A `queues:` entry: a durable point-to-point queue. Messages matching `topics` are kept in the
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
  /** Cluster mode: how long a message stays with a node that stopped answering before another node gets it. */
  ackWaitSeconds: number;
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
    ackWaitSeconds: int(1, 3600).default(30),
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
