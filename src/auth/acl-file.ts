/**
 * Mosquitto-format ACL files (mosquitto.conf(5), acl_file):
 *   # comment
 *   topic [read|write|readwrite|deny] <filter>      before any `user` line: anonymous clients
 *   user <name>                                      following `topic` lines: that user
 *   pattern [read|write|readwrite|deny] <filter>     every client; %c = client id, %u = user name
 * Publishing needs write access, reading (subscribe and each delivery) needs read; `deny` wins.
 * Subscribing to a filter is allowed when a read rule's filter covers it (the subscription's
 * wildcards taken as literal levels, as Mosquitto checks); each delivery is then checked against
 * the topic itself, so a broad subscription still only receives what the client may read.
 */
import { readFileSync } from 'node:fs';
import { topicMatchesFilter } from '../topics/index.js';
import type { Authorizer, ClientIdentity } from './types.js';

type Access = 'read' | 'write' | 'readwrite' | 'deny';

interface Rule {
  access: Access;
  filter: string;
  isPattern: boolean;
}

export class AclFileError extends Error {
  constructor(file: string, line: number, why: string) {
    super(`${file}:${line}: ${why}`);
    this.name = 'AclFileError';
  }
}

interface Acl {
  anonymous: Rule[];
  byUser: Map<string, Rule[]>;
  patterns: Rule[];
}

const ACCESS = new Set<Access>(['read', 'write', 'readwrite', 'deny']);

export function parseAcl(file: string, text: string): Acl {
  const acl: Acl = { anonymous: [], byUser: new Map(), patterns: [] };
  let current: Rule[] = acl.anonymous;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [keyword, ...rest] = line.split(/\s+/);
    if (keyword === 'user') {
      const name = line.slice('user'.length).trim();
      if (name === '') throw new AclFileError(file, i + 1, 'user needs a name');
      current = acl.byUser.get(name) ?? [];
      acl.byUser.set(name, current);
      return;
    }
    if (keyword !== 'topic' && keyword !== 'pattern') throw new AclFileError(file, i + 1, `unknown keyword ${JSON.stringify(keyword)}`);
    let access: Access = 'readwrite';
    let filterStart = line.indexOf(rest[0] ?? '', keyword.length);
    if (rest.length > 1 && ACCESS.has(rest[0] as Access)) {
      access = rest[0] as Access;
      filterStart = line.indexOf(rest[1]!, line.indexOf(rest[0]!, keyword.length) + rest[0]!.length);
    }
    // Topics may contain spaces: the filter is the rest of the line.
    const filter = rest.length === 0 ? '' : line.slice(filterStart).trim();
    if (filter === '') throw new AclFileError(file, i + 1, `${keyword} needs a topic filter`);
    const rule = { access, filter, isPattern: keyword === 'pattern' };
    if (keyword === 'pattern') acl.patterns.push(rule);
    else current.push(rule);
  });
  return acl;
}

function grants(rule: Access, wanted: 'read' | 'write'): boolean {
  return rule === 'readwrite' || rule === wanted;
}

export class AclFileAuthorizer implements Authorizer {
  private acl: Acl;

  constructor(readonly file: string) {
    this.acl = parseAcl(file, readFileSync(file, 'utf8'));
  }

  async reload(): Promise<void> {
    this.acl = parseAcl(this.file, readFileSync(this.file, 'utf8'));
  }

  canPublish(client: ClientIdentity, topic: string): boolean {
    return this.check(client, 'write', (filter) => topicMatchesFilter(topic, filter));
  }

  canReceive(client: ClientIdentity, topic: string): boolean {
    return this.check(client, 'read', (filter) => topicMatchesFilter(topic, filter));
  }

  canSubscribe(client: ClientIdentity, filter: string): boolean {
    const shared = /^\$share\/[^/]+\/(.+)$/.exec(filter);
    const wanted = shared ? shared[1]! : filter;
    // A rule covers the subscription when the subscription, read as a topic, matches it.
    return this.check(client, 'read', (ruleFilter) => ruleFilter === wanted || topicMatchesFilter(wanted, ruleFilter));
  }

  private rulesFor(client: ClientIdentity): Rule[] {
    const own = client.username === undefined ? this.acl.anonymous : (this.acl.byUser.get(client.username) ?? []);
    const patterns: Rule[] = [];
    for (const rule of this.acl.patterns) {
      // A pattern naming the user does not apply to anonymous clients.
      if (rule.filter.includes('%u') && client.username === undefined) continue;
      if (rule.filter.includes('%c') && (client.clientId.includes('+') || client.clientId.includes('#') || client.clientId.includes('/'))) continue;
      patterns.push({ ...rule, filter: rule.filter.replaceAll('%c', client.clientId).replaceAll('%u', client.username ?? '') });
    }
    return [...own, ...patterns];
  }

  private check(client: ClientIdentity, wanted: 'read' | 'write', matches: (filter: string) => boolean): boolean {
    return this.decide(client, wanted, matches) === 'allow';
  }

  /** For the authorization chain: a matching deny, a grant, or nothing said ('ignore'). */
  decide(client: ClientIdentity, wanted: 'read' | 'write', matches: (filter: string) => boolean): 'allow' | 'deny' | 'ignore' {
    let decision: 'allow' | 'ignore' = 'ignore';
    for (const rule of this.rulesFor(client)) {
      if (!matches(rule.filter)) continue;
      if (rule.access === 'deny') return 'deny';
      if (grants(rule.access, wanted)) decision = 'allow';
    }
    return decision;
  }
}
