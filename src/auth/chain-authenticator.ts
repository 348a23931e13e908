/**
 * The broker's Authenticator when `auth.chain` is configured: picks the chain of the client's
 * listener, applies the login guard (lockout), runs the chain, remembers what it learnt for the
 * authorization chain, counts the outcome and writes one audit event per attempt. The audit event
 * carries who, from where, which entry and why; never a password or a token.
 */
import { AuthenticationChain, REASON_BANNED, type ChainOutcome } from './chain.js';
import type { ClientContext, ClientContexts } from './client-contexts.js';
import type { LoginGuard } from './login-guard.js';
import type { AuthenticationResult, Authenticator, ConnectCredentials, EnhancedAuthenticator, EnhancedAuthExchange } from './types.js';

export interface AuthAuditEvent {
  outcome: 'success' | 'failure' | 'locked-out';
  clientId: string;
  username: string | undefined;
  address: string | undefined;
  listenerIndex: number | undefined;
  /** The chain entry that decided (jwt, http, users, passwordFile, …), or 'guard' / 'chain'. */
  entry: string;
  reasonCode?: number;
  why?: string;
}

export interface AuthCounts {
  successes: number;
  failures: number;
  /** Attempts refused because their address or user name was locked out. */
  lockedOut: number;
  /** Lockouts started. */
  lockouts: number;
}

export interface ChainAuthenticatorOptions {
  defaultChain: AuthenticationChain;
  /** Listener index → its own chain; listeners not named use the default chain. */
  listenerChains?: ReadonlyMap<number, AuthenticationChain>;
  contexts: ClientContexts;
  guard?: LoginGuard;
  audit?: (event: AuthAuditEvent) => void;
}

export type AcceptedListener = (clientId: string, context: ClientContext) => void;

/** Entries that check a password: their failures count against the user name too. */
const PASSWORD_ENTRIES = new Set(['users', 'passwordFile', 'http', 'chain']);

/** The MQTT 5 Authentication Method under which a JWT may be sent as Authentication Data. */
export const JWT_AUTH_METHOD = 'JWT';

export class ChainAuthenticator implements Authenticator {
  private readonly counts = { successes: 0, failures: 0, lockedOut: 0 };
  /** Told of each accepted client and what was learnt (the broker arms the token-expiry close). */
  onAccepted: AcceptedListener | undefined;

  constructor(private readonly options: ChainAuthenticatorOptions) {}

  get stats(): AuthCounts {
    return { ...this.counts, lockouts: this.options.guard?.lockouts ?? 0 };
  }

  chainFor(listenerIndex: number | undefined): AuthenticationChain {
    return (listenerIndex !== undefined ? this.options.listenerChains?.get(listenerIndex) : undefined) ?? this.options.defaultChain;
  }

  get chains(): AuthenticationChain[] {
    return [this.options.defaultChain, ...(this.options.listenerChains?.values() ?? [])];
  }

  authenticate(credentials: ConnectCredentials): Promise<AuthenticationResult> {
    return this.attempt(credentials);
  }

  private async attempt(credentials: ConnectCredentials, only?: string): Promise<AuthenticationResult> {
    const address = hostOf(credentials.remoteAddress ?? '');
    const guard = this.options.guard;
    const event = {
      clientId: credentials.clientId,
      username: credentials.username,
      address: credentials.remoteAddress,
      listenerIndex: credentials.listenerIndex,
    };
    const lockedBy = guard?.lockedBy(address, credentials.username);
    if (lockedBy !== undefined) {
      this.counts.lockedOut++;
      this.options.audit?.({ ...event, outcome: 'locked-out', entry: 'guard', reasonCode: REASON_BANNED, why: `${lockedBy} locked out after repeated failures` });
      return { isAccepted: false, reasonCode: REASON_BANNED };
    }
    const { verdict, entry }: ChainOutcome = await this.chainFor(credentials.listenerIndex).run(credentials, only);
    if (verdict.outcome === 'deny') {
      this.counts.failures++;
      // A user name is a guessing target only where a password is checked: many JWT devices may
      // share one user name, and a few bad tokens must not lock the whole fleet out.
      const isPasswordCheck = PASSWORD_ENTRIES.has(entry);
      const didLock = guard?.recordFailure(address, isPasswordCheck ? credentials.username : undefined) ?? false;
      this.options.audit?.({ ...event, outcome: 'failure', entry, reasonCode: verdict.reasonCode, why: didLock ? `${verdict.why}; lockout started` : verdict.why });
      return { isAccepted: false, reasonCode: verdict.reasonCode };
    }
    this.counts.successes++;
    guard?.recordSuccess(address, credentials.username);
    const context: ClientContext = {
      username: credentials.username,
      listenerIndex: credentials.listenerIndex,
      source: entry,
      ...(verdict.acl ? { acl: verdict.acl } : {}),
      ...(verdict.attributes ? { attributes: verdict.attributes } : {}),
      ...(verdict.isSuperuser ? { isSuperuser: true } : {}),
      ...(verdict.expiresAt !== undefined ? { expiresAt: verdict.expiresAt } : {}),
    };
    this.options.contexts.set(credentials.clientId, context);
    this.onAccepted?.(credentials.clientId, context);
    this.options.audit?.({ ...event, outcome: 'success', entry });
    return { isAccepted: true };
  }

  /** MQTT 5 enhanced authentication with a JWT as Authentication Data (method "JWT"). */
  jwtEnhancedAuthenticator(): EnhancedAuthenticator {
    return {
      method: JWT_AUTH_METHOD,
      begin: (context): EnhancedAuthExchange => ({
        step: async (data) => {
          const credentials: ConnectCredentials = { clientId: context.clientId };
          if (context.username !== undefined) credentials.username = context.username;
          if (context.remoteAddress !== undefined) credentials.remoteAddress = context.remoteAddress;
          if (context.listenerIndex !== undefined) credentials.listenerIndex = context.listenerIndex;
          if (data !== undefined) credentials.password = data;
          const result = await this.attempt(credentials, 'jwt');
          return result.isAccepted ? { status: 'success' } : { status: 'failure', reasonCode: result.reasonCode };
        },
      }),
    };
  }

  async reload(): Promise<void> {
    await Promise.all(this.chains.map((c) => c.reload()));
  }

  async close(): Promise<void> {
    await Promise.all(this.chains.map((c) => c.close()));
  }
}

function hostOf(remoteAddress: string): string {
  const colon = remoteAddress.lastIndexOf(':');
  return colon > 0 ? remoteAddress.slice(0, colon) : remoteAddress;
}
