/**
 * The authorization chain: every entry is asked (ACL file, the claims that came with the
 * credential, the user store's roles, …); a deny from any entry wins, else an allow from any
 * entry grants, else the chain's `noMatch` decides — deny by default on listeners reachable from
 * the network, allow on loopback ones (config `auth.authorization.noMatch` overrides).
 *
 * An entry may answer later (the HTTP service on a cache miss): `decide` then returns a promise.
 * `ChainAuthorizer.authorize` hands that on, combined, so the broker can wait without blocking; its
 * synchronous `canPublish`/`canSubscribe` read a not-yet-known answer as 'ignore' (the rest of the
 * chain decides), `canReceive` as 'allow' — the router's early filter, the send-time check in the
 * connection (which waits) being the one that decides.
 */
import type { AclFileAuthorizer } from './acl-file.js';
import type { ClientContext, ClientContexts } from './client-contexts.js';
import { covers, decideRules, stripShare, type Check, type Decision } from './rules.js';
import { topicMatchesFilter } from '../topics/index.js';
import type { Authorizer, ClientIdentity } from './types.js';

export interface AuthorizationEntry {
  readonly type: string;
  /** A promise only when the answer is not at hand (it must never reject). */
  decide(client: ClientIdentity, context: ClientContext | undefined, check: Check, topic: string): Decision | Promise<Decision>;
  reload?(): Promise<void>;
}

export class AuthorizationChain {
  constructor(
    readonly entries: readonly AuthorizationEntry[],
    readonly noMatch: 'allow' | 'deny',
  ) {}

  /** The decision now; an answer still to come counts as `unknownAs` (it is fetched meanwhile). */
  allows(client: ClientIdentity, context: ClientContext | undefined, check: Check, topic: string, unknownAs: Decision = 'ignore'): boolean {
    let isAllowed = false;
    for (const entry of this.entries) {
      let decision = entry.decide(client, context, check, topic);
      if (typeof decision !== 'string') decision = unknownAs;
      if (decision === 'deny') return false;
      if (decision === 'allow') isAllowed = true;
    }
    return isAllowed || this.noMatch === 'allow';
  }

  /** The decision, synchronously when every entry answers at once, else as a promise. */
  decide(client: ClientIdentity, context: ClientContext | undefined, check: Check, topic: string): boolean | Promise<boolean> {
    let isAllowed = false;
    let later: Array<Promise<Decision>> | undefined;
    for (const entry of this.entries) {
      const decision = entry.decide(client, context, check, topic);
      if (typeof decision !== 'string') {
        (later ??= []).push(decision);
        continue;
      }
      // Deny wins: no need to wait for an answer still to come.
      if (decision === 'deny') return false;
      if (decision === 'allow') isAllowed = true;
    }
    if (later === undefined) return isAllowed || this.noMatch === 'allow';
    return Promise.all(later).then((decisions) => {
      if (decisions.includes('deny')) return false;
      return isAllowed || decisions.includes('allow') || this.noMatch === 'allow';
    });
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

  private contextOf(client: ClientIdentity): ClientContext | undefined {
    const stored = this.options.contexts.get(client.clientId);
    // A context from an earlier login under another user name does not apply.
    return stored && stored.username === client.username ? stored : undefined;
  }

  private chainOf(context: ClientContext | undefined): AuthorizationChain {
    return (context?.listenerIndex !== undefined ? this.options.listenerChains?.get(context.listenerIndex) : undefined) ?? this.options.defaultChain;
  }

  private allows(client: ClientIdentity, check: Check, topic: string, unknownAs: Decision): boolean {
    const context = this.contextOf(client);
    if (context?.isSuperuser) return true;
    return this.chainOf(context).allows(client, context, check, topic, unknownAs);
  }

  /** What the handlers ask: a boolean when the answer is at hand, a promise when it is still to come. */
  authorize(client: ClientIdentity, check: Check, topic: string): boolean | Promise<boolean> {
    const context = this.contextOf(client);
    if (context?.isSuperuser) return true;
    return this.chainOf(context).decide(client, context, check, topic);
  }

  canPublish(client: ClientIdentity, topic: string): boolean {
    return this.allows(client, 'publish', topic, 'ignore');
  }

  canSubscribe(client: ClientIdentity, filter: string): boolean {
    return this.allows(client, 'subscribe', filter, 'ignore');
  }

  canReceive(client: ClientIdentity, topic: string): boolean {
    return this.allows(client, 'receive', topic, 'allow');
  }

  async reload(): Promise<void> {
    const chains = [this.options.defaultChain, ...(this.options.listenerChains?.values() ?? [])];
    const entries = new Set(chains.flatMap((c) => c.entries));
    await Promise.all([...entries].map((e) => e.reload?.()));
  }
}
