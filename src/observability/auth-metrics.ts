/** Authentication counters on a broker's registry, read at scrape time from the auth chain. */
import { Counter, type Registry } from 'prom-client';

export interface AuthMetricsSource {
  /** Attempts by outcome: success, failure, locked_out. */
  attempts(): Readonly<Record<string, number>>;
  lockouts(): number;
  /** HTTP auth service cache: hits and misses. */
  httpCache(): { hits: number; misses: number };
}

export function registerAuthMetrics(registry: Registry, source: AuthMetricsSource): void {
  const registers = [registry];
  new Counter({
    name: 'midge_auth_attempts_total',
    help: 'Authentication attempts of the auth chain, by outcome (success, failure, locked_out)',
    labelNames: ['outcome'],
    registers,
    collect() {
      this.reset();
      for (const [outcome, n] of Object.entries(source.attempts())) this.inc({ outcome }, n);
    },
  });
  new Counter({ name: 'midge_auth_lockouts_total', help: 'Lockouts started by repeated failed logins (per address or user name)', registers, collect() { this.reset(); this.inc(source.lockouts()); } });
  new Counter({
    name: 'midge_auth_http_cache_total',
    help: 'HTTP auth service answers taken from the cache (hit) or asked for (miss)',
    labelNames: ['result'],
    registers,
    collect() {
      this.reset();
      const { hits, misses } = source.httpCache();
      this.inc({ result: 'hit' }, hits);
      this.inc({ result: 'miss' }, misses);
    },
  });
}
