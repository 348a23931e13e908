/**
 * Dead-lettering a queue's message after `maxDeliveries`: published to the dead-letter topic
 * with the original topic and the reason as MQTT 5 user properties, retried until the publish is
 * committed. The caller deletes the message from the queue only after that.
 */
import type { Message } from '../store/index.js';
import type { QueueHost } from './host.js';

export interface DeadLetterTarget {
  queue: string;
  deadLetterTopic: string;
  /** The queue's publisher id (its No Local subscriptions never take their own dead letters). */
  publisherId: string;
}

/** The dead letter of `message`, as published. */
export function deadLetterOf(message: Message, deliveries: number, queue: string, deadLetterTopic: string): Message {
  const properties = message.properties ?? {};
  const userProperties = {
    ...(properties.userProperties ?? {}),
    reason: 'max-deliveries',
    error: `not acknowledged after ${deliveries} deliveries`,
    deliveries: String(deliveries),
    queue,
    topic: message.topic,
  };
  return { topic: deadLetterTopic, payload: message.payload, qos: 1, retain: false, properties: { ...properties, userProperties } };
}

/**
 * Publishes the dead letter, retrying with backoff; resolves true once it is committed, false if
 * `isStopped` said stop first (the message then stays in the queue, delivered again later).
 */
export async function publishDeadLetter(host: QueueHost, target: DeadLetterTarget, message: Message, deliveries: number, isStopped: () => boolean): Promise<boolean> {
  const deadLetter = deadLetterOf(message, deliveries, target.queue, target.deadLetterTopic);
  for (let attempt = 0; ; attempt++) {
    if (isStopped()) return false;
    try {
      await host.publish(deadLetter, target.publisherId);
      break;
    } catch (error) {
      host.logger.error({ queue: target.queue, err: error }, 'dead letter not stored; retrying');
      await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 200 * 2 ** attempt)));
    }
  }
  host.logger.warn({ queue: target.queue, topic: message.topic, deliveries, deadLetterTopic: target.deadLetterTopic }, 'queue message dead-lettered');
  return true;
}
