/**
 * The authorization chain: every entry is asked (ACL file, the claims that came with the
 * credential, the user store's roles, …); a deny from any entry wins, else an allow from any
 * entry grants, else the chain's `noMatch` decides — deny by default on listeners reachable from
 * the network, allow on loopback ones (config `auth.authorization.noMatch` overrides).
 */
import type { AclFileAuthorizer } from './acl-file.js';
import type { ClientContext, ClientContexts } from './client-contexts.js';
import { covers, decideRules, stripShare, type Check, type Decision } from './rules.js';
import { topicMatchesFilter } from '../topics/index.js';
import type { Authorizer, ClientIdentity } from './types.js';

export interface AuthorizationEntry {
  readonly type: string;
  decide(client: ClientIdentity, context: ClientContext | undefined, check: Check, topic: string): Decision;
  reload?(): Promise<void>;
}

export class AuthorizationChain {
  constructor(
    readonly entries: readonly AuthorizationEntry[],
    readonly noMatch: 'allow' | 'deny',
  ) {}

  allows(client: ClientIdentity, context: ClientContext | undefined, check: Check, topic: string): boolean {
    let isAllowed = false;
    for (const entry of this.entries) {
      const decision = entry.decide(client, context, check, topic);
      if (decision === 'deny') return false;
      if (decision === 'allow') isAllowed = true;
    }
    return isAllowed || this.noMatch === 'allow';
  }
}

/** The ACL file as a chain entry (its rules as Mosquitto reads them). */
export function aclFileEntry(acl: AclFileAuthorizer): AuthorizationEntry {
  return {
    type: 'aclFile',
    decide: (client, _context, check, topic) => {
      if (check === 'subscribe') {
        const wanted = stripShare(topic);
        return acl.decide(client, 'read', (ruleFilter) => covers(ruleFilter, wanted));
      }
      return acl.decide(client, check === 'publish' ? 'write' : 'read', (filter) => topicMatchesFilter(topic, filter));
    },
    reload: () => acl.reload(),
  };
}

/** ACL rules carried by the credential: JWT claims, or the HTTP auth service's answer. */
export const claimsEntry: AuthorizationEntry = {
  type: 'claims',
  decide: (client, context, check, topic) => (context?.acl ? decideRules(context.acl, client, check, topic) : 'ignore'),
};

export interface ChainAuthorizerOptions {
  defaultChain: AuthorizationChain;
  listenerChains?: ReadonlyMap<number, AuthorizationChain>;
  contexts: ClientContexts;
}

export class ChainAuthorizer implements Authorizer {
  constructor(private readonly options: ChainAuthorizerOptions) {}

  private allows(client: ClientIdentity, check: Check, topic: string): boolean {
    const stored = this.options.contexts.get(client.clientId);
    // A context from an earlier login under another user name does not apply.
    const context = stored && stored.username === client.username ? stored : undefined;
    if (context?.isSuperuser) return true;
    const chain = (context?.listenerIndex !== undefined ? this.options.listenerChains?.get(context.listenerIndex) : undefined) ?? this.options.defaultChain;
    return chain.allows(client, context, check, topic);
  }

  canPublish(client: ClientIdentity, topic: string): boolean {
    return this.allows(client, 'publish', topic);
  }

  canSubscribe(client: ClientIdentity, filter: string): boolean {
    return this.allows(client, 'subscribe', filter);
  }

  canReceive(client: ClientIdentity, topic: string): boolean {
    return this.allows(client, 'receive', topic);
  }

  async reload(): Promise<void> {
    const chains = [this.options.defaultChain, ...(this.options.listenerChains?.values() ?? [])];
    const entries = new Set(chains.flatMap((c) => c.entries));
    await Promise.all([...entries].map((e) => e.reload?.()));
  }
}
