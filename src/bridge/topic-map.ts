/** Bridge topic rules (Mosquitto-like): which topics cross, and how their prefixes change. */
import { topicMatchesFilter } from '../topics/index.js';

import type { BridgeTopicConfig } from '../config/index.js';

export type BridgeTopicRule = BridgeTopicConfig;
export type BridgeDirection = BridgeTopicConfig['direction'];

export const goesOut = (rule: BridgeTopicRule): boolean => rule.direction === 'out' || rule.direction === 'both';
export const comesIn = (rule: BridgeTopicRule): boolean => rule.direction === 'in' || rule.direction === 'both';

/** The remote topic for a local one, by the first outgoing rule that matches it. */
export function toRemote(rules: readonly BridgeTopicRule[], localTopic: string): { topic: string; rule: BridgeTopicRule } | undefined {
  for (const rule of rules) {
    if (!goesOut(rule) || !localTopic.startsWith(rule.localPrefix)) continue;
    const bare = localTopic.slice(rule.localPrefix.length);
    if (topicMatchesFilter(bare, rule.pattern)) return { topic: rule.remotePrefix + bare, rule };
  }
  return undefined;
}

/** The local topic for a remote one, by the first incoming rule that matches it. */
export function toLocal(rules: readonly BridgeTopicRule[], remoteTopic: string): { topic: string; rule: BridgeTopicRule } | undefined {
  for (const rule of rules) {
    if (!comesIn(rule) || !remoteTopic.startsWith(rule.remotePrefix)) continue;
    const bare = remoteTopic.slice(rule.remotePrefix.length);
    if (topicMatchesFilter(bare, rule.pattern)) return { topic: rule.localPrefix + bare, rule };
  }
  return undefined;
}
