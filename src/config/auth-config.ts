/**
 * The configuration of authentication and authorization chains (`auth.chain`,
 * `auth.authorization`, `auth.chains` for listeners that name their own, `auth.lockout`,
 * `auth.users`), with their schemas. Kept apart from config.ts so the chain vocabulary lives in one
 * place.
 */
import { z } from 'zod';

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

export const authzEntrySchema = z.union([
  z.object({ type: z.literal('aclFile'), path: z.string().min(1) }).strict(),
  z.object({ type: z.literal('claims') }).strict(),
  z.object({ type: z.literal('users') }).strict(),
]);

export const authorizationSchema = z
  .object({
    chain: z.array(authzEntrySchema).optional(),
    /** When no entry allows or denies: default deny on non-loopback listeners, allow on loopback. */
    noMatch: z.enum(['allow', 'deny']).optional(),
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
    /** Failed attempts per address or user name that start a lockout; 0 = no lockout. */
    maxFailures: z.number().int().min(0).max(1_000_000),
    windowMs: z.number().int().min(1).max(86_400_000),
    durationMs: z.number().int().min(1).max(86_400_000),
  })
  .strict();

export const usersStoreSchema = z.object({ iterations: z.number().int().min(1).max(10_000_000) }).strict();

export type AuthEntryConfig = z.infer<typeof authEntrySchema>;
export type AuthzEntryConfig = z.infer<typeof authzEntrySchema>;
export type AuthorizationConfig = z.infer<typeof authorizationSchema>;
export type NamedChainConfig = z.infer<typeof namedChainSchema>;
export type LockoutConfig = z.infer<typeof lockoutSchema>;
export type UsersStoreConfig = z.infer<typeof usersStoreSchema>;

export const DEFAULT_LOCKOUT: LockoutConfig = { maxFailures: 10, windowMs: 60_000, durationMs: 300_000 };
