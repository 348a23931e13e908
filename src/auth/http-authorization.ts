/**
 * The HTTP auth service as an authorization entry: publish, subscribe and receive checks are POSTed
 * as `{clientId, username, action, topic}`. 2xx allows (a JSON answer may say `{"result":
 * "deny"|"ignore"}`), 4xx denies; anything else — 5xx, a timeout, a refused connection — is "the
 * service is down", whose outcome is configurable (deny by default; or ignore, leaving the decision
 * to the other entries and the chain's noMatch).
 *
 * Answers are kept in a bounded cache with a TTL. A cached answer is returned synchronously, so
 * the broker's hot path (every PUBLISH, every delivery) has no await in it; only a miss returns a
 * promise, and the broker holds that client's later packets until it settles (order kept). An
 * outage's outcome is kept for `downCacheTtlMs` too, so a down service is not asked (and waited
 * for) once per message.
 */
import type { AuthorizationEntry } from './authorization-chain.js';
import { postToService, trimToSize, type HttpServiceOptions } from './http-service.js';
import type { Check, Decision } from './rules.js';
import type { ClientIdentity } from './types.js';

export interface HttpAuthorizationOptions extends HttpServiceOptions {
  /**
   * When the service is down, for this one check: deny (the default) or ignore (the other entries
   * and then the chain's noMatch decide). Unlike the authentication entry's, it never refuses a
   * connection.
   */
  whenDown?: 'deny' | 'ignore';
  /** How long the outcome of an outage is reused before the service is asked again. */
  downCacheTtlMs?: number;
  /** Which checks are asked of the service (the others are 'ignore'): all three by default. */
  checks?: readonly Check[];
}

interface CacheEntry {
  decision: Decision;
  expiresAt: number;
}

export const DEFAULT_HTTP_AUTHZ_TIMEOUT_MS = 2000;
export const DEFAULT_HTTP_AUTHZ_CACHE_TTL_MS = 60_000;
export const DEFAULT_HTTP_AUTHZ_CACHE_MAX = 100_000;
export const DEFAULT_HTTP_AUTHZ_DOWN_TTL_MS = 1000;

export class HttpAuthorizationEntry implements AuthorizationEntry {
  readonly type = 'http';
  /** Insertion order is eviction order (FIFO): a hit does not reorder, so it costs one Map lookup. */
  private readonly cache = new Map<string, CacheEntry>();
  /** Requests under way, so a burst of identical checks asks the service once. */
  private readonly pending = new Map<string, Promise<Decision>>();
  private readonly now: () => number;
  private readonly checks: ReadonlySet<Check>;
  readonly stats = { requests: 0, cacheHits: 0, cacheMisses: 0, down: 0 };

  constructor(private readonly options: HttpAuthorizationOptions) {
    this.now = options.now ?? Date.now;
    this.checks = new Set(options.checks ?? ['publish', 'subscribe', 'receive']);
  }

  decide(client: ClientIdentity, _context: unknown, check: Check, topic: string): Decision | Promise<Decision> {
    if (!this.checks.has(check)) return 'ignore';
    // NUL cannot occur in a client id, user name or topic (UTF-8 strings without U+0000 [3.1.1 MQTT-1.5.3-2] [5.0 MQTT-1.5.4-2]).
    const key = `${check}\u0000${client.clientId}\u0000${client.username ?? ''}\u0000${topic}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      if (cached.expiresAt > this.now()) {
        this.stats.cacheHits++;
        return cached.decision;
      }
      this.cache.delete(key);
    }
    this.stats.cacheMisses++;
    let request = this.pending.get(key);
    if (!request) {
      request = this.ask(client, check, topic).then((answer) => {
        this.pending.delete(key);
        if (answer === undefined) {
          this.stats.down++;
          const decision: Decision = this.options.whenDown === 'ignore' ? 'ignore' : 'deny';
          this.remember(key, decision, this.options.downCacheTtlMs ?? DEFAULT_HTTP_AUTHZ_DOWN_TTL_MS);
          return decision;
        }
        this.remember(key, answer, this.options.cacheTtlMs ?? DEFAULT_HTTP_AUTHZ_CACHE_TTL_MS);
        return answer;
      });
      this.pending.set(key, request);
    }
    return request;
  }

  /** The service's decision, or undefined when it is down (no answer, 5xx, a timeout, not JSON). */
  private async ask(client: ClientIdentity, check: Check, topic: string): Promise<Decision | undefined> {
    this.stats.requests++;
    const body = JSON.stringify({ clientId: client.clientId, username: client.username ?? null, action: check, topic });
    const response = await postToService(this.options, body, DEFAULT_HTTP_AUTHZ_TIMEOUT_MS);
    if (response === undefined) return undefined;
    const { status, text } = response;
    if (status >= 400 && status < 500) return 'deny';
    if (status < 200 || status >= 300) return undefined;
    if (text.trim() === '') return 'allow';
    let answer: { result?: unknown };
    try {
      answer = JSON.parse(text) as typeof answer;
    } catch {
      return undefined;
    }
    if (answer?.result === 'deny') return 'deny';
    if (answer?.result === 'ignore') return 'ignore';
    return 'allow';
  }

  private remember(key: string, decision: Decision, ttl: number): void {
    if (ttl <= 0) return;
    this.cache.set(key, { decision, expiresAt: this.now() + ttl });
    trimToSize(this.cache, this.options.cacheMaxEntries ?? DEFAULT_HTTP_AUTHZ_CACHE_MAX);
  }

  get cacheSize(): number {
    return this.cache.size;
  }
}
