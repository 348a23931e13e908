/** The user store as an authentication entry and as an authorization entry (its roles' rules). */
import type { AuthorizationEntry } from './authorization-chain.js';
import { REASON_BAD_CREDENTIALS, REASON_BANNED, type AuthenticationEntry, type Verdict } from './chain.js';
import { decideRules } from './rules.js';
import type { ConnectCredentials } from './types.js';
import type { UserStore } from './user-store.js';

export function usersAuthenticationEntry(store: UserStore): AuthenticationEntry {
  return {
    type: 'users',
    async check(credentials: ConnectCredentials): Promise<Verdict> {
      if (credentials.username === undefined) return { outcome: 'ignore' };
      const result = await store.verify(credentials.username, credentials.password);
      switch (result) {
        case 'unknown':
          return { outcome: 'ignore' };
        case 'disabled':
          return { outcome: 'deny', reasonCode: REASON_BANNED, why: 'user is disabled' };
        case 'invalid':
          return { outcome: 'deny', reasonCode: REASON_BAD_CREDENTIALS, why: 'wrong password' };
        case 'valid':
          return { outcome: 'allow' };
      }
    },
  };
}

export function usersAuthorizationEntry(store: UserStore): AuthorizationEntry {
  return {
    type: 'users',
    decide: (client, _context, check, topic) => {
      if (client.username === undefined) return 'ignore';
      const acl = store.aclFor(client.username);
      return acl ? decideRules(acl, client, check, topic) : 'ignore';
    },
  };
}
