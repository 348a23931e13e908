/**
 * Composition of authentication and authorization from the config. Without `auth.chain`,
 * `auth.chains` or a listener's `authChain`, `auth.passwordFile` and `auth.aclFile` build exactly
 * the authenticator and authorizer they always did. With chains, they become shorthand entries:
 * the password file is tried after the chain's own entries, the ACL file is asked first by the
 * authorization chain.
 */
import path from 'node:path';
import {
  aclFileEntry,
  AclFileAuthorizer,
  anonymousEntry,
  AuthenticationChain,
  AuthorizationChain,
  certificateEntry,
  ChainAuthenticator,
  ChainAuthorizer,
  claimsEntry,
  ClientContexts,
  HttpAuthorizationEntry,
  HttpEntry,
  JwtEntry,
  LoginGuard,
  PasswordFileAuthenticator,
  passwordFileEntry,
  UserStore,
  usersAuthenticationEntry,
  usersAuthorizationEntry,
  type AuthAuditEvent,
  type AuthenticationEntry,
  type Authenticator,
  type AuthorizationEntry,
  type Authorizer,
  type EnhancedAuthenticator,
} from './auth/index.js';
import { CredentialExpiry, disconnectUser, recheckUserSubscriptions, type Broker } from './broker/index.js';
import { ConfigError, isLoopbackHost, type AuthEntryConfig, type AuthorizationConfig, type BrokerConfig } from './config/index.js';
import { registerAuthMetrics, type Logger } from './observability/index.js';

export interface Security {
  authenticator?: Authenticator;
  authorizer?: Authorizer;
  enhancedAuthenticators: EnhancedAuthenticator[];
  userStore?: UserStore;
  /** The chain authenticator (for stats), when chains are configured. */
  chainAuthenticator?: ChainAuthenticator;
  httpEntries: HttpEntry[];
  /** The HTTP service's authorization entries (for stats). */
  httpAuthorizationEntries: HttpAuthorizationEntry[];
  /** Wires what needs the broker: user-store changes reaching connected clients, metrics. */
  attach(broker: Broker): void;
}

export function usesAuthChains(config: BrokerConfig): boolean {
  return config.auth.chain !== undefined || config.auth.chains !== undefined || config.listeners.some((l) => l.authChain !== undefined);
}

function wrapConfigError<T>(key: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(key, (error as Error).message);
  }
}

/**
 * The legacy keys: the password file decides exactly as it always did (its own slowdown and
 * anonymous rule, no lockout); it is only wrapped so that each attempt is counted and audited.
 */
function legacySecurity(config: BrokerConfig, logger: Logger): Security {
  const security: Security = { enhancedAuthenticators: [], httpEntries: [], httpAuthorizationEntries: [], attach: () => undefined };
  const passwordFile = config.auth.passwordFile;
  if (passwordFile !== undefined) {
    const file = wrapConfigError('auth.passwordFile', () => new PasswordFileAuthenticator(passwordFile, { allowAnonymous: config.auth.allowAnonymous }));
    const entry: AuthenticationEntry = {
      type: 'passwordFile',
      check: async (credentials) => {
        const result = await file.authenticate(credentials);
        return result.isAccepted ? { outcome: 'allow' } : { outcome: 'deny', reasonCode: result.reasonCode, why: 'password file refused the client' };
      },
      reload: () => file.reload(),
    };
    const chainAuthenticator = new ChainAuthenticator({
      defaultChain: new AuthenticationChain([entry], (type, error) => logger.error({ err: error, entry: type }, 'authentication entry failed')),
      contexts: new ClientContexts(),
      audit: auditTo(logger),
    });
    security.authenticator = chainAuthenticator;
    security.chainAuthenticator = chainAuthenticator;
    security.attach = (broker) => registerMetrics(broker, chainAuthenticator, []);
  }
  const aclFile = config.auth.aclFile;
  if (aclFile !== undefined) security.authorizer = wrapConfigError('auth.aclFile', () => new AclFileAuthorizer(aclFile));
  return security;
}

/** One audit line per attempt: who, from where, which entry, why. Never a password or token. */
function auditTo(logger: Logger): (event: AuthAuditEvent) => void {
  return (event) => logger.info({ audit: 'auth', ...event }, `authentication ${event.outcome}`);
}

/** HTTP cache counts: the authentication entries' and the authorization entries' together. */
function registerMetrics(broker: Broker, chainAuthenticator: ChainAuthenticator, httpEntries: ReadonlyArray<{ stats: { cacheHits: number; cacheMisses: number } }>): void {
  registerAuthMetrics(broker.metrics.registry, {
    attempts: () => {
      const stats = chainAuthenticator.stats;
      return { success: stats.successes, failure: stats.failures, locked_out: stats.lockedOut };
    },
    lockouts: () => chainAuthenticator.stats.lockouts,
    httpCache: () => ({
      hits: httpEntries.reduce((n, e) => n + e.stats.cacheHits, 0),
      misses: httpEntries.reduce((n, e) => n + e.stats.cacheMisses, 0),
    }),
  });
}

export function buildSecurity(config: BrokerConfig, logger: Logger, now?: () => number): Security {
  if (!usesAuthChains(config)) return legacySecurity(config, logger);
  const auth = config.auth;
  const namedChains = auth.chains ?? {};
  const allAuthn = [...(auth.chain ?? []), ...Object.values(namedChains).flatMap((c) => c.chain)];
  const allAuthz = [auth.authorization, ...Object.values(namedChains).map((c) => c.authorization)].flatMap((a) => a?.chain ?? []);
  const needsUsers = allAuthn.some((e) => e.type === 'users') || allAuthz.some((e) => e.type === 'users');
  const userStore = needsUsers
    ? wrapConfigError('auth.users', () => UserStore.open(path.join(config.dataDir, 'auth'), auth.users?.iterations !== undefined ? { iterations: auth.users.iterations } : {}))
    : undefined;
  const httpEntries: HttpEntry[] = [];
  const httpAuthzEntries: HttpAuthorizationEntry[] = [];

  const authnEntry = (entry: AuthEntryConfig, key: string): AuthenticationEntry =>
    wrapConfigError(key, () => {
      switch (entry.type) {
        case 'passwordFile':
          return passwordFileEntry(new PasswordFileAuthenticator(entry.path, { allowAnonymous: false }));
        case 'jwt': {
          const { type: _type, ...options } = entry;
          return new JwtEntry(now ? { ...options, now } : options);
        }
        case 'http': {
          const { type: _type, ...options } = entry;
          const http = new HttpEntry(now ? { ...options, now } : options);
          httpEntries.push(http);
          return http;
        }
        case 'users':
          return usersAuthenticationEntry(userStore!);
        case 'certificate':
          return certificateEntry;
        case 'anonymous':
          return anonymousEntry;
      }
    });
  const authnChain = (entries: AuthEntryConfig[], key: string, withShorthands: boolean): AuthenticationChain => {
    const built = entries.map((e, i) => authnEntry(e, `${key}[${i}]`));
    if (withShorthands && auth.passwordFile !== undefined) built.push(authnEntry({ type: 'passwordFile', path: auth.passwordFile }, 'auth.passwordFile'));
    if (withShorthands && auth.allowAnonymous) built.push(anonymousEntry);
    return new AuthenticationChain(built, (entry, error) => logger.error({ err: error, entry }, 'authentication entry failed'));
  };

  const aclFile = auth.aclFile !== undefined ? wrapConfigError('auth.aclFile', () => new AclFileAuthorizer(auth.aclFile!)) : undefined;
  const authzEntries = (cfg: AuthorizationConfig | undefined, key: string): AuthorizationEntry[] => {
    if (cfg?.chain === undefined) {
      // The default: the ACL file (if any), then the credential's claims, then the user store's roles.
      return [...(aclFile ? [aclFileEntry(aclFile)] : []), claimsEntry, ...(userStore ? [usersAuthorizationEntry(userStore)] : [])];
    }
    return cfg.chain.map((entry, i) =>
      wrapConfigError(`${key}.chain[${i}]`, () => {
        switch (entry.type) {
          case 'aclFile':
            return aclFileEntry(new AclFileAuthorizer(entry.path));
          case 'claims':
            return claimsEntry;
          case 'users':
            return usersAuthorizationEntry(userStore!);
          case 'http': {
            const { type: _type, ...options } = entry;
            const http = new HttpAuthorizationEntry(now ? { ...options, now } : options);
            httpAuthzEntries.push(http);
            return http;
          }
        }
      }),
    );
  };
  /** Nothing matched: deny beyond loopback or when an ACL file is asked (Mosquitto's rule), else allow. */
  const noMatchFor = (cfg: AuthorizationConfig | undefined, entries: AuthorizationEntry[], isLoopback: boolean): 'allow' | 'deny' =>
    cfg?.noMatch ?? auth.authorization?.noMatch ?? (!isLoopback || entries.some((e) => e.type === 'aclFile') ? 'deny' : 'allow');

  const defaultAuthn = authnChain(auth.chain ?? [], 'auth.chain', true);
  const defaultAuthzEntries = authzEntries(auth.authorization, 'auth.authorization');
  const everyListenerIsLoopback = config.listeners.every((l) => isLoopbackHost(l.host));
  const defaultAuthz = new AuthorizationChain(defaultAuthzEntries, noMatchFor(auth.authorization, defaultAuthzEntries, everyListenerIsLoopback));

  const namedAuthn = new Map(Object.entries(namedChains).map(([name, c]) => [name, authnChain(c.chain, `auth.chains.${name}.chain`, false)]));
  const listenerAuthn = new Map<number, AuthenticationChain>();
  const listenerAuthz = new Map<number, AuthorizationChain>();
  config.listeners.forEach((listener, i) => {
    const named = listener.authChain !== undefined ? namedChains[listener.authChain] : undefined;
    if (listener.authChain !== undefined) listenerAuthn.set(i, namedAuthn.get(listener.authChain)!);
    const cfg = named?.authorization ?? auth.authorization;
    const entries = named?.authorization ? authzEntries(named.authorization, `auth.chains.${listener.authChain}.authorization`) : defaultAuthzEntries;
    listenerAuthz.set(i, new AuthorizationChain(entries, noMatchFor(cfg, entries, isLoopbackHost(listener.host))));
  });

  const contexts = new ClientContexts();
  const lockout = auth.lockout;
  const guard =
    lockout.maxFailures > 0
      ? new LoginGuard({ maxFailures: lockout.maxFailures, windowMs: lockout.windowMs, lockoutMs: lockout.durationMs, ...(now ? { now } : {}) })
      : undefined;
  const chainAuthenticator = new ChainAuthenticator({
    defaultChain: defaultAuthn,
    listenerChains: listenerAuthn,
    contexts,
    ...(guard ? { guard } : {}),
    audit: auditTo(logger),
  });
  const authorizer = new ChainAuthorizer({ defaultChain: defaultAuthz, listenerChains: listenerAuthz, contexts });
  const hasJwt = allAuthn.some((e) => e.type === 'jwt');

  const security: Security = {
    authenticator: chainAuthenticator,
    authorizer,
    enhancedAuthenticators: hasJwt ? [chainAuthenticator.jwtEnhancedAuthenticator()] : [],
    chainAuthenticator,
    httpEntries,
    httpAuthorizationEntries: httpAuthzEntries,
    attach(broker: Broker): void {
      userStore?.onChange((change) => {
        for (const username of change.usernames) {
          if (change.kind === 'grants') recheckUserSubscriptions(broker, username);
          else disconnectUser(broker, username, change.kind === 'deleted' ? 'user deleted' : 'user disabled');
        }
      });
      registerMetrics(broker, chainAuthenticator, [...httpEntries, ...httpAuthzEntries]);
      const expiry = new CredentialExpiry(broker);
      chainAuthenticator.onAccepted = (clientId, context) => {
        if (context.expiresAt === undefined) return expiry.cancel(clientId);
        expiry.arm(clientId, context.username, context.expiresAt, () => contexts.get(clientId) === context);
      };
    },
  };
  if (userStore) security.userStore = userStore;
  return security;
}
