/**
 * HTTP auth service entry: POSTs {clientId, username, password, certificateCommonName, address,
 * listener} as JSON. 2xx allows (the JSON answer may say `{"result": "deny"|"ignore"}`, and may
 * carry `acl` rules, `attributes` and `isSuperuser`); 4xx denies; anything else — 5xx, a timeout, a
 * refused connection — is "the service is down", whose outcome is configurable (deny with 0x88 by
 * default; or ignore, handing the client to the next entry). Answers (not outages) are cached in a
 * bounded LRU with a TTL, keyed by a hash of what was sent, so reconnect storms do not reach the
 * service and no password is held in memory.
 */
import { createHash } from 'node:crypto';
import { REASON_BAD_CREDENTIALS, REASON_NOT_AUTHORIZED, REASON_SERVER_UNAVAILABLE, type AuthenticationEntry, type Verdict } from './chain.js';
import { postToService, trimToSize, type HttpServiceOptions } from './http-service.js';
import { AclRuleError, parseAclRules } from './rules.js';
import type { ConnectCredentials } from './types.js';

export interface HttpEntryOptions extends HttpServiceOptions {
  /**
   * When the service is down, for this CONNECT: deny (CONNACK 0x88, the default) or ignore (the
   * next authentication entry decides).
   */
  whenDown?: 'deny' | 'ignore';
}

interface CacheEntry {
  verdict: Verdict;
  expiresAt: number;
}

export class HttpEntry implements AuthenticationEntry {
  readonly type = 'http';
  private readonly cache = new Map<string, CacheEntry>();
  /** Requests under way, so a burst of identical CONNECTs asks the service once. */
  private readonly pending = new Map<string, Promise<Verdict | undefined>>();
  private readonly now: () => number;
  readonly stats = { requests: 0, cacheHits: 0, cacheMisses: 0, down: 0 };

  constructor(private readonly options: HttpEntryOptions) {
    this.now = options.now ?? Date.now;
  }

  async check(credentials: ConnectCredentials): Promise<Verdict> {
    const body = {
      clientId: credentials.clientId,
      username: credentials.username ?? null,
      password: credentials.password?.toString('utf8') ?? null,
      certificateCommonName: credentials.certificateIdentity ?? null,
      address: hostOf(credentials.remoteAddress ?? ''),
      listener: credentials.listenerIndex ?? null,
    };
    const key = createHash('sha256').update(JSON.stringify(body)).digest('base64');
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt > this.now()) {
      this.stats.cacheHits++;
      // Refresh its place in the LRU order.
      this.cache.delete(key);
      this.cache.set(key, cached);
      return cached.verdict;
    }
    this.stats.cacheMisses++;
    let request = this.pending.get(key);
    if (!request) {
      request = this.ask(body).finally(() => this.pending.delete(key));
      this.pending.set(key, request);
    }
    const verdict = await request;
    if (verdict === undefined) {
      this.stats.down++;
      return this.options.whenDown === 'ignore'
        ? { outcome: 'ignore' }
        : { outcome: 'deny', reasonCode: REASON_SERVER_UNAVAILABLE, why: 'auth service unavailable' };
    }
    this.remember(key, verdict);
    return verdict;
  }

  /** The service's answer, or undefined when it is down (no answer, 5xx, a timeout). */
  private async ask(body: Record<string, unknown>): Promise<Verdict | undefined> {
    this.stats.requests++;
    const response = await postToService(this.options, JSON.stringify(body), 5000);
    if (response === undefined) return undefined;
    const { status, text } = response;
    if (status >= 400 && status < 500) {
      return { outcome: 'deny', reasonCode: body.username === null ? REASON_NOT_AUTHORIZED : REASON_BAD_CREDENTIALS, why: `auth service answered ${status}` };
    }
    if (status < 200 || status >= 300) return undefined;
    let answer: { result?: unknown; acl?: unknown; attributes?: unknown; isSuperuser?: unknown } = {};
    if (text.trim() !== '') {
      try {
        answer = JSON.parse(text) as typeof answer;
      } catch {
        return { outcome: 'deny', reasonCode: REASON_SERVER_UNAVAILABLE, why: 'auth service answer is not JSON' };
      }
    }
    if (answer.result === 'deny') return { outcome: 'deny', reasonCode: REASON_NOT_AUTHORIZED, why: 'auth service denied' };
    if (answer.result === 'ignore') return { outcome: 'ignore' };
    const verdict: Verdict & { outcome: 'allow' } = { outcome: 'allow' };
    if (answer.acl !== undefined) {
      try {
        verdict.acl = parseAclRules(answer.acl);
      } catch (error) {
        if (!(error instanceof AclRuleError)) throw error;
        return { outcome: 'deny', reasonCode: REASON_SERVER_UNAVAILABLE, why: `auth service acl: ${error.message}` };
      }
    }
    if (answer.attributes !== null && typeof answer.attributes === 'object') verdict.attributes = answer.attributes as Record<string, unknown>;
    if (answer.isSuperuser === true) verdict.isSuperuser = true;
    return verdict;
  }

  private remember(key: string, verdict: Verdict): void {
    const ttl = this.options.cacheTtlMs ?? 60_000;
    if (ttl <= 0) return;
    this.cache.set(key, { verdict, expiresAt: this.now() + ttl });
    trimToSize(this.cache, this.options.cacheMaxEntries ?? 10_000);
  }

  get cacheSize(): number {
    return this.cache.size;
  }
}

function hostOf(remoteAddress: string): string {
  const colon = remoteAddress.lastIndexOf(':');
  return colon > 0 ? remoteAddress.slice(0, colon) : remoteAddress;
}
