/**
 * JWT authentication entry (jose): a token in the MQTT password (or user name, or MQTT 5
 * Authentication Data) signed with a shared secret (HS256/384/512), a static public key
 * (RS256/ES256/…) or a key from a JWKS URL (fetched, cached for `jwksCacheMaxAgeMs`, and fetched
 * again when a token names a `kid` the cache does not hold — that is how key rotation reaches us).
 * Checks `exp` (required), `nbf`, `aud` and `iss`; binds `sub` to the client id or user name; an
 * `acl` claim becomes the client's ACL rules. Something that is not JWT-shaped is ignored, so the
 * next chain entry (a password file, the user store) can check it.
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { REASON_BAD_CREDENTIALS, REASON_NOT_AUTHORIZED, REASON_SERVER_UNAVAILABLE, type AuthenticationEntry, type Verdict } from './chain.js';
import { AclRuleError, parseAclRules, type AclRule } from './rules.js';
import type { ConnectCredentials } from './types.js';

export interface JwtEntryOptions {
  /** HS256/384/512 shared secret. */
  secret?: string;
  /** PEM file of the public key (RS256, ES256, …). */
  publicKeyFile?: string;
  /** A JWKS endpoint (https:// in production; http:// on loopback for tests). */
  jwksUrl?: string;
  jwksCacheMaxAgeMs?: number;
  /** Least time between two JWKS fetches for unknown key ids (a flood of bad kids cannot hammer it). */
  jwksCooldownMs?: number;
  jwksTimeoutMs?: number;
  algorithms?: string[];
  audience?: string | string[];
  issuer?: string | string[];
  /** Seconds of clock skew allowed for exp/nbf. */
  clockToleranceSec?: number;
  /** Where the token is: the MQTT password (default) or the user name. */
  from?: 'password' | 'username';
  /** `sub` must equal the client id, the user name, either, or is not checked. */
  bindSubject?: 'clientId' | 'username' | 'clientIdOrUsername' | 'none';
  /** The claim holding ACL rules (see rules.ts), default `acl`. */
  aclClaim?: string;
  /** Injected clock for tests (seconds are derived from it). */
  now?: () => number;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export class JwtConfigError extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'JwtConfigError';
  }
}

export class JwtEntry implements AuthenticationEntry {
  readonly type = 'jwt';
  private readonly key: KeyObject | JWTVerifyGetKey;
  private readonly algorithms: string[];

  constructor(private readonly options: JwtEntryOptions) {
    const sources = [options.secret, options.publicKeyFile, options.jwksUrl].filter((s) => s !== undefined);
    if (sources.length !== 1) throw new JwtConfigError('a jwt entry needs exactly one of secret, publicKeyFile, jwksUrl');
    if (options.secret !== undefined) {
      this.key = createSecretKey(Buffer.from(options.secret));
      this.algorithms = options.algorithms ?? ['HS256', 'HS384', 'HS512'];
    } else if (options.publicKeyFile !== undefined) {
      try {
        this.key = createPublicKey(readFileSync(options.publicKeyFile));
      } catch (error) {
        throw new JwtConfigError(`cannot read publicKeyFile: ${(error as Error).message}`);
      }
      this.algorithms = options.algorithms ?? ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA'];
    } else {
      this.key = createRemoteJWKSet(new URL(options.jwksUrl!), {
        cacheMaxAge: options.jwksCacheMaxAgeMs ?? 600_000,
        cooldownDuration: options.jwksCooldownMs ?? 30_000,
        timeoutDuration: options.jwksTimeoutMs ?? 5000,
      });
      this.algorithms = options.algorithms ?? ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA'];
    }
  }

  async check(credentials: ConnectCredentials): Promise<Verdict> {
    const raw = this.options.from === 'username' ? credentials.username : credentials.password?.toString('utf8');
    if (raw === undefined || !JWT_SHAPE.test(raw)) return { outcome: 'ignore' };
    let payload: JWTPayload;
    try {
      const verifyOptions: Parameters<typeof jwtVerify>[2] = {
        algorithms: this.algorithms,
        requiredClaims: ['exp'],
        clockTolerance: this.options.clockToleranceSec ?? 0,
      };
      if (this.options.audience !== undefined) verifyOptions.audience = this.options.audience;
      if (this.options.issuer !== undefined) verifyOptions.issuer = this.options.issuer;
      if (this.options.now) verifyOptions.currentDate = new Date(this.options.now());
      // Overloads differ for a key and a key-getting function; both verify the same way.
      payload = (await jwtVerify(raw, this.key as KeyObject, verifyOptions)).payload;
    } catch (error) {
      // The JWKS endpoint down or slow says nothing about the token: "server unavailable".
      const isKeySourceDown = error instanceof errors.JWKSTimeout || !(error instanceof errors.JOSEError);
      if (isKeySourceDown && this.options.jwksUrl !== undefined) {
        return { outcome: 'deny', reasonCode: REASON_SERVER_UNAVAILABLE, why: `JWKS unavailable: ${describe(error)}` };
      }
      return { outcome: 'deny', reasonCode: REASON_BAD_CREDENTIALS, why: `token rejected: ${describe(error)}` };
    }
    const bind = this.options.bindSubject ?? 'clientIdOrUsername';
    const sub = payload.sub;
    const isBound =
      bind === 'none' ||
      (sub !== undefined &&
        ((bind !== 'username' && sub === credentials.clientId) || (bind !== 'clientId' && credentials.username !== undefined && sub === credentials.username)));
    if (!isBound) return { outcome: 'deny', reasonCode: REASON_NOT_AUTHORIZED, why: `token subject does not match the ${bind === 'clientIdOrUsername' ? 'client id or user name' : bind}` };
    const claim = payload[this.options.aclClaim ?? 'acl'];
    let acl: AclRule[] | undefined;
    if (claim !== undefined) {
      try {
        acl = parseAclRules(claim);
      } catch (error) {
        if (!(error instanceof AclRuleError)) throw error;
        return { outcome: 'deny', reasonCode: REASON_BAD_CREDENTIALS, why: `token acl claim: ${error.message}` };
      }
    }
    const expiresAt = payload.exp! * 1000; // required above
    return acl ? { outcome: 'allow', acl, expiresAt } : { outcome: 'allow', expiresAt };
  }
}

/** Why a token failed, in words that never quote the token. */
function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `claim ${error.claim} check failed (${error.reason})`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key in the JWKS matches the token';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (error instanceof errors.JWKSTimeout) return 'JWKS request timed out';
  if (error instanceof errors.JOSEError) return error.code;
  return error instanceof TypeError ? 'malformed token or unreachable key source' : 'malformed token';
}
