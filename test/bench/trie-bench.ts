/**
 * Subscription-trie matching speed: 100,000 IoT-shaped subscriptions, then matches/second for a
 * repeated topic set (cache hits) and for unique topics (cache misses).
 * Run: npx tsx test/bench/trie-bench.ts   (also part of `npm run bench -- trie`)
 */
import { SubscriptionTrie } from '../../src/topics/index.js';

export interface TrieBenchResult {
  subscriptions: number;
  buildMs: number;
  warmMatchesPerSecond: number;
  coldMatchesPerSecond: number;
  averageMatchesPerTopic: number;
}

/** Seeded PRNG so every run builds the same trie. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

export function runTrieBench(subscriptions = 100_000, seconds = 1): TrieBenchResult {
  const random = prng(42);
  const trie = new SubscriptionTrie<number>();
  const sites = 100;
  const devices = 1000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < subscriptions; i++) {
    const site = Math.floor(random() * sites);
    const device = Math.floor(random() * devices);
    const shape = random();
    let filter: string;
    if (shape < 0.5) filter = `site/${site}/device/${device}/+`; // one device, every metric
    else if (shape < 0.7) filter = `site/${site}/device/${device}/temperature`; // exact topic
    else if (shape < 0.85) filter = `site/${site}/#`; // a site dashboard
    else if (shape < 0.999) filter = `site/+/device/${device}/status`; // one device id, any site
    else filter = `+/+/device/+/alarm`; // fleet-wide alarm consoles
    trie.add(filter, `client-${i}`, i);
  }
  const buildMs = Number(process.hrtime.bigint() - start) / 1e6;

  const metrics = ['temperature', 'humidity', 'status', 'alarm', 'battery'];
  const topicFor = (n: number): string => `site/${n % sites}/device/${(n * 7919) % devices}/${metrics[n % metrics.length]}`;

  // Warm: a fleet of 5,000 topics published over and over (the common case: cache hits).
  const warmTopics = Array.from({ length: 5000 }, (_, i) => topicFor(i));
  let matched = 0;
  for (const t of warmTopics) matched += trie.match(t).length;
  const averageMatchesPerTopic = matched / warmTopics.length;
  let count = 0;
  const warmEnd = Date.now() + seconds * 1000;
  while (Date.now() < warmEnd) {
    for (let i = 0; i < 1000; i++) matched += trie.match(warmTopics[(count + i) % warmTopics.length]!).length;
    count += 1000;
  }
  const warmMatchesPerSecond = count / seconds;

  // Cold: every topic new (cache misses; the cache also has to evict): a metric name never seen.
  let n = 0;
  count = 0;
  const coldEnd = Date.now() + seconds * 1000;
  while (Date.now() < coldEnd) {
    for (let i = 0; i < 1000; i++, n++) matched += trie.match(`site/${n % sites}/device/${(n * 7919) % devices}/m${n}`).length;
    count += 1000;
  }
  const coldMatchesPerSecond = count / seconds;
  if (matched < 0) throw new Error('unreachable: keeps the loop from being optimised away');
  return { subscriptions, buildMs, warmMatchesPerSecond, coldMatchesPerSecond, averageMatchesPerTopic };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const r = runTrieBench();
  console.log(`subscriptions            ${r.subscriptions}`);
  console.log(`build                    ${r.buildMs.toFixed(0)} ms`);
  console.log(`avg matches per topic    ${r.averageMatchesPerTopic.toFixed(1)}`);
  console.log(`matches/s (cache hits)   ${Math.round(r.warmMatchesPerSecond).toLocaleString('en')}`);
  console.log(`matches/s (cache misses) ${Math.round(r.coldMatchesPerSecond).toLocaleString('en')}`);
}
