/**
 * Subscription-trie matching speed: 100,000 IoT-shaped subscriptions, then matches/second for a
 * repeated topic set (cache hits) and for unique topics (cache misses).
 * Run: npx tsx test/bench/trie-bench.ts
 */
import { SubscriptionTrie } from '../../src/topics/index.js';

export interface TrieBenchResult {
  subscriptions: number;
  buildMs: number;
  averageMatchesPerTopic: number;
  /** The same string objects again and again: V8 has cached their hashes. */
  warmMatchesPerSecond: number;
  /** Buffer → string only: the floor under the next figure. */
  decodeOnlyPerSecond: number;
  /** Repeated topics decoded from bytes each time, as the broker gets them: decode + cache hit. */
  decodeAndMatchPerSecond: number;
  /** Every topic new: a full walk, a result array and a cache eviction each time. */
  coldMatchesPerSecond: number;
  /** Nine repeated topics for every unique one: the unique ones must not flush the cache. */
  mixedMatchesPerSecond: number;
  removeMs: number;
}

/** Seeded PRNG so every run builds the same trie. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const SITES = 1000;
const DEVICES_PER_SITE = 100;
const METRICS = ['temperature', 'humidity', 'status', 'alarm', 'battery'];

function subscriptionFilter(random: () => number): string {
  const site = Math.floor(random() * SITES);
  const device = Math.floor(random() * DEVICES_PER_SITE);
  const shape = random();
  if (shape < 0.5) return `site/${site}/device/${device}/cmd/+`; // a device listening for commands
  if (shape < 0.7) return `site/${site}/device/${device}/+`; // one device, every metric
  if (shape < 0.85) return `site/${site}/device/${device}/temperature`; // an exact topic
  if (shape < 0.95) return `site/${site}/#`; // a site dashboard
  if (shape < 0.999) return `site/+/device/${device}/status`; // one device id, any site
  return `+/+/device/+/alarm`; // fleet-wide alarm consoles
}

function topicFor(n: number): string {
  return `site/${n % SITES}/device/${Math.floor(n / SITES) % DEVICES_PER_SITE}/${METRICS[n % METRICS.length]}`;
}

/** Runs `matchBatch` (1,000 matches per call) for `seconds`; returns matches per second. */
function rate(seconds: number, matchBatch: (batch: number) => void): number {
  let batch = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) matchBatch(batch++);
  return (batch * 1000) / ((performance.now() - start) / 1000);
}

export function runTrieBench(subscriptions = 100_000, seconds = 1): TrieBenchResult {
  const random = prng(42);
  const trie = new SubscriptionTrie<number>();
  const filters: string[] = [];
  let start = performance.now();
  for (let i = 0; i < subscriptions; i++) {
    const filter = subscriptionFilter(random);
    filters.push(filter);
    trie.add(filter, `client-${i}`, i);
  }
  const buildMs = performance.now() - start;
  let sink = 0;

  // Warm: a fleet of 5,000 topics published over and over, within the 10,000-topic cache.
  const warmTopics = Array.from({ length: 5000 }, (_, i) => topicFor(i * 7919));
  for (const topic of warmTopics) sink += trie.match(topic).length;
  const averageMatchesPerTopic = sink / warmTopics.length;
  const warmMatchesPerSecond = rate(seconds, (batch) => {
    for (let i = 0; i < 1000; i++) sink += trie.match(warmTopics[(batch * 1000 + i) % warmTopics.length]!).length;
  });

  // As in the broker: the topic is decoded from the packet bytes (a new string whose hash V8 has
  // not computed yet), then matched. Decoding alone is measured too, to tell the two costs apart.
  const encoded = warmTopics.map((topic) => Buffer.from(topic));
  const decodeOnlyPerSecond = rate(seconds, (batch) => {
    for (let i = 0; i < 1000; i++) sink += encoded[(batch * 1000 + i) % encoded.length]!.toString('utf8').length;
  });
  const decodeAndMatchPerSecond = rate(seconds, (batch) => {
    for (let i = 0; i < 1000; i++) sink += trie.match(encoded[(batch * 1000 + i) % encoded.length]!.toString('utf8')).length;
  });

  // Cold: a metric name never seen before on every publish.
  const coldMatchesPerSecond = rate(seconds, (batch) => {
    for (let i = 0; i < 1000; i++) {
      const n = batch * 1000 + i;
      sink += trie.match(`site/${n % SITES}/device/${(n * 7) % DEVICES_PER_SITE}/m${n}`).length;
    }
  });

  const mixedMatchesPerSecond = rate(seconds, (batch) => {
    for (let i = 0; i < 1000; i++) {
      const n = batch * 1000 + i;
      const topic = n % 10 === 9 ? `site/${n % SITES}/device/${(n * 7) % DEVICES_PER_SITE}/x${n}` : warmTopics[n % warmTopics.length]!;
      sink += trie.match(topic).length;
    }
  });

  start = performance.now();
  for (let i = 0; i < subscriptions; i++) trie.remove(filters[i]!, `client-${i}`);
  const removeMs = performance.now() - start;
  if (sink < 0 || trie.size !== 0) throw new Error('unreachable: keeps the loops from being optimised away');
  return { subscriptions, buildMs, averageMatchesPerTopic, warmMatchesPerSecond, decodeOnlyPerSecond, decodeAndMatchPerSecond, coldMatchesPerSecond, mixedMatchesPerSecond, removeMs };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const r = runTrieBench();
  const perSecond = (n: number): string => Math.round(n).toLocaleString('en');
  console.table({
    'add 100k subscriptions': { result: `${r.buildMs.toFixed(0)} ms` },
    'average matches per topic': { result: r.averageMatchesPerTopic.toFixed(1) },
    'matches/s, cache hits (same strings)': { result: perSecond(r.warmMatchesPerSecond) },
    'topic decodes/s alone (Buffer → string)': { result: perSecond(r.decodeOnlyPerSecond) },
    'decode + match/s, cache hits': { result: perSecond(r.decodeAndMatchPerSecond) },
    'matches/s, cache misses (unique topics)': { result: perSecond(r.coldMatchesPerSecond) },
    'matches/s, 90% hits + 10% unique topics': { result: perSecond(r.mixedMatchesPerSecond) },
    'remove 100k subscriptions': { result: `${r.removeMs.toFixed(0)} ms` },
  });
}
