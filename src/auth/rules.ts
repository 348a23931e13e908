/**
 * ACL rules that arrive as data (JWT claims, an HTTP auth answer, a role in the user store), and
 * the one way they are decided: a matching deny wins, else a matching allow grants, else the rules
 * have nothing to say ('ignore') and the authorization chain asks its next entry.
 *
 * Wire format (as EMQX's): `[{ "permission": "allow"|"deny", "action": "publish"|"subscribe"|"all",
 * "topic": "devices/%c/#" }]`; %c is the client id, %u the user name.
 */
import { topicMatchesFilter } from '../topics/index.js';
import type { ClientIdentity } from './types.js';

export type Action = 'publish' | 'subscribe' | 'all';
export interface AclRule {
  permission: 'allow' | 'deny';
  action: Action;
  topic: string;
}

export type Decision = 'allow' | 'deny' | 'ignore';
/** What the broker asks: publish (write), subscribe (read a filter), receive (read one topic). */
export type Check = 'publish' | 'subscribe' | 'receive';

export class AclRuleError extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'AclRuleError';
  }
}

/** Validates rules from an untrusted source (a token, a service's answer); throws AclRuleError. */
export function parseAclRules(value: unknown): AclRule[] {
  if (!Array.isArray(value)) throw new AclRuleError('acl must be a list of {permission, action, topic}');
  return value.map((raw, i) => {
    const rule = raw as Partial<AclRule> | null;
    if (rule === null || typeof rule !== 'object') throw new AclRuleError(`acl[${i}] is not an object`);
    const permission = rule.permission ?? 'allow';
    const action = rule.action ?? 'all';
    if (permission !== 'allow' && permission !== 'deny') throw new AclRuleError(`acl[${i}].permission must be allow or deny`);
    if (action !== 'publish' && action !== 'subscribe' && action !== 'all') throw new AclRuleError(`acl[${i}].action must be publish, subscribe or all`);
    if (typeof rule.topic !== 'string' || rule.topic === '') throw new AclRuleError(`acl[${i}].topic must be a topic filter`);
    return { permission, action, topic: rule.topic };
  });
}

function appliesTo(rule: AclRule, check: Check): boolean {
  if (rule.action === 'all') return true;
  return check === 'publish' ? rule.action === 'publish' : rule.action === 'subscribe';
}

/** The rule's filter with %c/%u filled in, or undefined when it cannot apply to this client. */
function expand(filter: string, client: ClientIdentity): string | undefined {
  if (filter.includes('%u') && client.username === undefined) return undefined;
  // A client id or user name with wildcards or levels must not widen a pattern.
  const isUnsafe = (value: string): boolean => value.includes('+') || value.includes('#') || value.includes('/');
  if (filter.includes('%c') && isUnsafe(client.clientId)) return undefined;
  if (filter.includes('%u') && isUnsafe(client.username!)) return undefined;
  return filter.replaceAll('%c', client.clientId).replaceAll('%u', client.username ?? '');
}

/** For a subscription: whether a rule's filter covers it (the subscription read as a topic). */
export function covers(ruleFilter: string, wanted: string): boolean {
  return ruleFilter === wanted || topicMatchesFilter(wanted, ruleFilter);
}

export function stripShare(filter: string): string {
  const shared = /^\$share\/[^/]+\/(.+)$/.exec(filter);
  return shared ? shared[1]! : filter;
}

/** Deny wins over allow; no matching rule is 'ignore'. */
export function decideRules(rules: readonly AclRule[], client: ClientIdentity, check: Check, topicOrFilter: string): Decision {
  let decision: Decision = 'ignore';
  const wanted = check === 'subscribe' ? stripShare(topicOrFilter) : topicOrFilter;
  for (const rule of rules) {
    if (!appliesTo(rule, check)) continue;
    const filter = expand(rule.topic, client);
    if (filter === undefined) continue;
    const isMatch = check === 'subscribe' ? covers(filter, wanted) : topicMatchesFilter(wanted, filter);
    if (!isMatch) continue;
    if (rule.permission === 'deny') return 'deny';
    decision = 'allow';
  }
  return decision;
}
