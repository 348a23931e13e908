/**
 * What the two HTTP auth entries share: how the service is called and how their answer caches are
 * bounded. The authentication entry (http-entry.ts) asks once per CONNECT, the authorization
 * entry (http-authorization.ts) once per check; what an answer and an outage mean differs between
 * them, so each reads the answer and keeps its own `whenDown`.
 */

/** The service and its cache: the options both entries take. */
export interface HttpServiceOptions {
  url: string;
  /** Extra request headers (e.g. an Authorization header for the service). */
  headers?: Record<string, string>;
  timeoutMs?: number;
  cacheTtlMs?: number;
  cacheMaxEntries?: number;
  now?: () => number;
}

/** POSTs the JSON body: the status and text of the answer, or undefined when none came (refused, reset, timed out). */
export async function postToService(options: HttpServiceOptions, body: string, defaultTimeoutMs: number): Promise<{ status: number; text: string } | undefined> {
  try {
    const response = await fetch(options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...options.headers },
      body,
      signal: AbortSignal.timeout(options.timeoutMs ?? defaultTimeoutMs),
    });
    return { status: response.status, text: await response.text() };
  } catch {
    return undefined;
  }
}

/** Drops the oldest entries (a Map's insertion order) until at most `max` are left. */
export function trimToSize(cache: Map<string, unknown>, max: number): void {
  while (cache.size > max) cache.delete(cache.keys().next().value as string);
}
