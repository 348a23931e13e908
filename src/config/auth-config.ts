/**
 * The configuration of authentication and authorization chains (`auth.chain`,
 * `auth.authorization`, `auth.chains` for listeners that name their own, `auth.lockout`,
 * `auth.users`), with their schemas. Kept apart from config.ts so the chain vocabulary lives in one
 * place.
 */
import * as z from 'zod';

const ms = z.number().int().min(0).max(86_400_000);

const jwtEntrySchema = z
  .object({
    type: z.literal('jwt'),
    secret: z.string().min(16).optional(),
    publicKeyFile: z.string().min(1).optional(),
    jwksUrl: z.string().regex(/^https?:\/\/.+/, 'an http(s):// URL').optional(),
    jwksCacheMaxAgeMs: ms.optional(),
    jwksCooldownMs: ms.optional(),
    jwksTimeoutMs: ms.optional(),
    algorithms: z.array(z.enum(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])).min(1).optional(),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    issuer: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    clockToleranceSec: z.number().int().min(0).max(3600).optional(),
    from: z.enum(['password', 'username']).optional(),
    bindSubject: z.enum(['clientId', 'username', 'clientIdOrUsername', 'none']).optional(),
    aclClaim: z.string().min(1).optional(),
  })
  .strict()
  .refine((e) => [e.secret, e.publicKeyFile, e.jwksUrl].filter((s) => s !== undefined).length === 1, { message: 'a jwt entry needs exactly one of secret, publicKeyFile, jwksUrl' });

const httpEntrySchema = z
  .object({
    type: z.literal('http'),
    url: z.string().regex(/^https?:\/\/.+/, 'an http(s):// URL'),
    headers: z.record(z.string(), z.string()).optional(),
    timeoutMs: z.number().int().min(1).max(60_000).optional(),
    cacheTtlMs: ms.optional(),
    cacheMaxEntries: z.number().int().min(0).max(10_000_000).optional(),
    whenDown: z.enum(['deny', 'ignore']).optional(),
  })
  .strict();

export const authEntrySchema = z.union([
  z.object({ type: z.literal('passwordFile'), path: z.string().min(1) }).strict(),
  jwtEntrySchema,
  httpEntrySchema,
  z.object({ type: z.literal('users') }).strict(),
  z.object({ type: z.literal('certificate') }).strict(),
  z.object({ type: z.literal('anonymous') }).strict(),
]);

// The authorization service takes the authentication service's keys, plus its own two.
const httpAuthzEntrySchema = httpEntrySchema
  .extend({
    downCacheTtlMs: ms.optional(),
    checks: z.array(z.enum(['publish', 'subscribe', 'receive'])).min(1).optional(),
  })
  .strict();

export const authzEntrySchema = z.union([
  z.object({ type: z.literal('aclFile'), path: z.string().min(1) }).strict(),
  z.object({ type: z.literal('claims') }).strict(),
  z.object({ type: z.literal('users') }).strict(),
  httpAuthzEntrySchema,
]);

export const authorizationSchema = z
  .object({
    chain: z.array(authzEntrySchema).optional().describe('authorization entries: `aclFile` (`path`), `claims`, `users`, `http` (`url`, `timeoutMs`, `cacheTtlMs`, `whenDown`, `checks`, …); a deny wins'),
    // Left out: deny on non-loopback listeners, allow on loopback (chosen per listener at start-up).
    noMatch: z.enum(['allow', 'deny']).optional().describe('`allow` or `deny` when no authorization entry matches'),
  })
  .strict();

export const namedChainSchema = z
  .object({
    chain: z.array(authEntrySchema).min(1),
    authorization: authorizationSchema.optional(),
  })
  .strict();

export const lockoutSchema = z
  .object({
    maxFailures: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .default(10)
      .describe('failed logins per address or user name before a lockout (`0` = off)'),
    windowMs: z.number().int().min(1).max(86_400_000).default(60_000).describe('the window failed logins count in'),
    durationMs: z.number().int().min(1).max(86_400_000).default(300_000).describe('how long a lockout lasts'),
  })
  .strict();

export const usersStoreSchema = z
  .object({
    // The same as auth's DEFAULT_USER_STORE_ITERATIONS (config may not import auth; a test holds them equal).
    iterations: z.number().int().min(1).max(10_000_000).default(1000).describe('PBKDF2 iterations for passwords set in the user store'),
  })
  .strict();

export type AuthEntryConfig = z.output<typeof authEntrySchema>;
export type AuthzEntryConfig = z.output<typeof authzEntrySchema>;
export type AuthorizationConfig = z.output<typeof authorizationSchema>;
export type NamedChainConfig = z.output<typeof namedChainSchema>;
export type LockoutConfig = z.output<typeof lockoutSchema>;
export type UsersStoreConfig = z.output<typeof usersStoreSchema>;

export const DEFAULT_LOCKOUT: LockoutConfig = lockoutSchema.parse({});
