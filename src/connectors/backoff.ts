/**
 * Full-jitter exponential backoff: a random wait in [min/2, min(max, min·2^attempt)]. A backend's
 * Retry-After wins (it says when it can take more), capped at an hour against nonsense values.
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, retryAfterMs?: number, random: () => number = Math.random): number {
  if (retryAfterMs !== undefined && retryAfterMs >= 0) return Math.min(retryAfterMs, 3_600_000);
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(Math.max(minMs / 2, random() * ceiling));
}
