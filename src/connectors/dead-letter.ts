/**
 * The dead letter of a message a sink refused as bad data: the same payload and properties on the
 * connector's dead-letter topic, with why (error class, reason, attempts) and where it came from
 * (connector, original topic, message id) as user properties, so `$dlq/<name>` can be read,
 * fixed and replayed.
 */
import type { Message } from '../store/index.js';
import type { SinkError } from './errors.js';
import type { ConnectorMessage } from './types.js';

export function deadLetterOf(item: ConnectorMessage, error: SinkError, connector: string, deadLetterTopic: string): Message {
  const properties = item.message.properties ?? {};
  const userProperties = {
    ...(properties.userProperties ?? {}),
    reason: error.errorClass,
    error: error.reason,
    attempts: String(item.attempts),
    connector,
    topic: item.message.topic,
    msgid: item.id,
  };
  return { topic: deadLetterTopic, payload: item.message.payload, qos: 1, retain: false, properties: { ...properties, userProperties } };
}
