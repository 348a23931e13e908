/** The configured bounds on topic size, on top of the protocol's own rules. */
import type { LimitsConfig } from '../config/index.js';

/** Whether a topic name or filter is within maxTopicLength (bytes) and maxTopicLevels. */
export function isWithinTopicLimits(topic: string, limits: Pick<LimitsConfig, 'maxTopicLength' | 'maxTopicLevels'>): boolean {
  // Characters are at least one byte: a string short in characters is short in bytes too.
  if (topic.length > limits.maxTopicLength || Buffer.byteLength(topic) > limits.maxTopicLength) return false;
  let levels = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 0x2f && ++levels > limits.maxTopicLevels) return false;
  return true;
}
