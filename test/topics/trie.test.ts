import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SubscriptionTrie, topicMatchesFilter } from '../../src/topics/index.js';
import { prng } from '../helpers/prng.js';

const matchedKeys = (trie: SubscriptionTrie<unknown>, topic: string): string[] =>
  trie
    .match(topic)
    .map((e) => `${e.filter}|${e.key}`)
    .sort();

/** Filters and keys matched by the trie must equal what the naive matcher says. */
function expectAgreesWithOracle(trie: SubscriptionTrie<unknown>, live: Map<string, { filter: string; key: string }>, topic: string): void {
  const expected = [...live.values()]
    .filter((e) => topicMatchesFilter(topic, e.filter))
    .map((e) => `${e.filter}|${e.key}`)
    .sort();
  expect(matchedKeys(trie, topic), `topic ${JSON.stringify(topic)}`).toEqual(expected);
}

interface NodeShape {
  children: Map<string, NodeShape> | undefined;
  plus: NodeShape | undefined;
  hash: NodeShape | undefined;
}

/** White-box: pruning has no public observer, so count the nodes reachable from the root. */
function nodeCount(trie: SubscriptionTrie<unknown>): number {
  const stack = [(trie as unknown as { root: NodeShape }).root];
  let count = 0;
  while (stack.length > 0) {
    const node = stack.pop()!;
    count++;
    if (node.children) stack.push(...node.children.values());
    if (node.plus) stack.push(node.plus);
    if (node.hash) stack.push(node.hash);
  }
  return count;
}

describe('SubscriptionTrie matching', () => {
  it('[3.1.1 MQTT-3.3.2-3] [5.0 MQTT-3.3.2-3] matches literal, + and # filters', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('a/b', 'c1', 1);
    trie.add('a/+', 'c2', 2);
    trie.add('a/#', 'c3', 3);
    trie.add('#', 'c4', 4);
    trie.add('+/+/c', 'c5', 5);
    trie.add('+/b/#', 'c6', 6);
    expect(matchedKeys(trie, 'a/b')).toEqual(['#|c4', '+/b/#|c6', 'a/#|c3', 'a/+|c2', 'a/b|c1']);
    expect(matchedKeys(trie, 'a/b/c')).toEqual(['#|c4', '+/+/c|c5', '+/b/#|c6', 'a/#|c3']);
    expect(matchedKeys(trie, 'x')).toEqual(['#|c4']);
    expect(matchedKeys(trie, 'ab')).toEqual(['#|c4']);
  });

  it('# also matches the parent level: "a/#" matches "a", "a/", "a/b/c"', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('a/#', 'k', 1);
    trie.add('a/b/#', 'k', 1);
    expect(matchedKeys(trie, 'a')).toEqual(['a/#|k']);
    expect(matchedKeys(trie, 'a/')).toEqual(['a/#|k']);
    expect(matchedKeys(trie, 'a/b')).toEqual(['a/#|k', 'a/b/#|k']);
    expect(matchedKeys(trie, 'a/b/c/d/e')).toEqual(['a/#|k', 'a/b/#|k']);
    expect(matchedKeys(trie, 'b/a')).toEqual([]);
  });

  it('+ matches exactly one level, including an empty one', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('a/+', 'k', 1);
    trie.add('+', 'k', 1);
    expect(matchedKeys(trie, 'a/')).toEqual(['a/+|k']);
    expect(matchedKeys(trie, 'a/x')).toEqual(['a/+|k']);
    expect(matchedKeys(trie, 'a')).toEqual(['+|k']);
    expect(matchedKeys(trie, 'a/x/y')).toEqual([]);
  });

  it('empty levels are levels: "a//b" has three, "/a" starts with an empty one', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('/+', 'a', 1);
    trie.add('+/+', 'b', 1);
    trie.add('a//b', 'c', 1);
    trie.add('a/+/b', 'd', 1);
    trie.add('//', 'e', 1);
    expect(matchedKeys(trie, '/x')).toEqual(['+/+|b', '/+|a']);
    expect(matchedKeys(trie, 'a//b')).toEqual(['a/+/b|d', 'a//b|c']);
    expect(matchedKeys(trie, 'a/b')).toEqual(['+/+|b']);
    expect(matchedKeys(trie, '/')).toEqual(['+/+|b', '/+|a']);
    expect(matchedKeys(trie, '//')).toEqual(['//|e']);
  });

  it('[3.1.1 MQTT-4.7.2-1] [5.0 MQTT-4.7.2-1] topics starting with $ are not matched by filters starting with + or #', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('#', 'all', 1);
    trie.add('+', 'one', 1);
    trie.add('+/info', 'plus', 1);
    trie.add('+/#', 'plushash', 1);
    trie.add('$SYS/#', 'sys', 1);
    trie.add('$SYS/+', 'sysplus', 1);
    trie.add('$SYS', 'sysexact', 1);
    expect(matchedKeys(trie, '$SYS/info')).toEqual(['$SYS/#|sys', '$SYS/+|sysplus']);
    expect(matchedKeys(trie, '$SYS')).toEqual(['$SYS/#|sys', '$SYS|sysexact']);
    expect(matchedKeys(trie, '$')).toEqual([]);
    expect(matchedKeys(trie, '$other/info')).toEqual([]);
    expect(matchedKeys(trie, 'x/info')).toEqual(['#|all', '+/#|plushash', '+/info|plus']);
    // '$' anywhere but the first character of the topic is ordinary.
    expect(matchedKeys(trie, 'a/$b')).toEqual(['#|all', '+/#|plushash']);
    expect(matchedKeys(trie, '/$SYS')).toEqual(['#|all', '+/#|plushash']);
  });

  it('treats a $share/ filter as a plain filter (the caller unwraps shared subscriptions)', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('a/+', 'group\u0000client', 1);
    trie.add('$share/g/a/+', 'client', 2);
    expect(matchedKeys(trie, 'a/b')).toEqual(['a/+|group\u0000client']);
    expect(matchedKeys(trie, '$share/g/a/b')).toEqual(['$share/g/a/+|client']);
  });

  it('survives topics and filters far deeper than the call stack (65535-level topics are legal)', () => {
    const trie = new SubscriptionTrie<number>();
    const deep = Array.from({ length: 30_000 }, () => 'a').join('/');
    const deepPlus = Array.from({ length: 30_000 }, () => '+').join('/');
    trie.add(deep, 'k', 1);
    trie.add(deepPlus, 'k', 2);
    trie.add('a/#', 'k', 3);
    expect(trie.match(deep)).toHaveLength(3);
    expect([...trie.entries()]).toHaveLength(3);
    expect(trie.remove(deep, 'k')).toBe(true);
    expect(trie.remove(deepPlus, 'k')).toBe(true);
    expect(trie.match(deep).map((e) => e.value)).toEqual([3]);
  });
});

describe('SubscriptionTrie bookkeeping', () => {
  it('add replaces per (filter, key); size and get follow', () => {
    const trie = new SubscriptionTrie<number>();
    expect(trie.add('a/+', 'c', 1)).toBe(true);
    expect(trie.add('a/+', 'c', 2)).toBe(false);
    expect(trie.add('a/+', 'd', 3)).toBe(true);
    expect(trie.add('a/#', 'c', 4)).toBe(true);
    expect(trie.size).toBe(3);
    expect(trie.get('a/+', 'c')).toBe(2);
    expect(trie.get('a/#', 'c')).toBe(4);
    expect(trie.get('a/+', 'x')).toBeUndefined();
    expect(trie.get('a/b', 'c')).toBeUndefined();
    expect(trie.get('a', 'c')).toBeUndefined();
    expect(
      trie
        .match('a/x')
        .map((e) => e.value)
        .sort(),
    ).toEqual([2, 3, 4]);
  });

  it('remove reports whether the entry existed and keeps its neighbours', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('a/b', 'k1', 1);
    trie.add('a/b', 'k2', 2);
    trie.add('a/b', 'k3', 3);
    trie.add('a/b/c', 'k1', 4);
    trie.add('a', 'k1', 5);
    expect(trie.remove('a/b', 'nobody')).toBe(false);
    expect(trie.remove('never/added', 'k1')).toBe(false);
    expect(trie.remove('a/b/c/d', 'k1')).toBe(false);
    // Removing from the middle moves the last entry into the hole: the moved one must stay reachable.
    expect(trie.remove('a/b', 'k1')).toBe(true);
    expect(trie.remove('a/b', 'k1')).toBe(false);
    expect(trie.get('a/b', 'k3')).toBe(3);
    expect(trie.add('a/b', 'k3', 33)).toBe(false);
    expect(trie.remove('a/b', 'k2')).toBe(true);
    expect(trie.match('a/b').map((e) => e.value)).toEqual([33]);
    expect(trie.size).toBe(3);
    // A shorter filter's removal leaves the longer one, and the other way round.
    expect(trie.remove('a/b', 'k3')).toBe(true);
    expect(trie.match('a/b/c').map((e) => e.value)).toEqual([4]);
    expect(trie.remove('a/b/c', 'k1')).toBe(true);
    expect(trie.match('a').map((e) => e.value)).toEqual([5]);
    expect(trie.size).toBe(1);
  });

  it('remove prunes the nodes it leaves empty, and only those', () => {
    const trie = new SubscriptionTrie<number>();
    expect(nodeCount(trie)).toBe(1);
    trie.add('a/b/c/d', 'k', 1);
    trie.add('a/+/#', 'k', 1);
    trie.add('a/b', 'k', 1);
    const full = nodeCount(trie);
    expect(full).toBe(1 + 4 + 2); // root, a, b, c, d, +, #
    trie.remove('a/b/c/d', 'k');
    expect(nodeCount(trie)).toBe(full - 2); // c and d went; b still holds an entry
    trie.remove('a/+/#', 'k');
    expect(nodeCount(trie)).toBe(3);
    trie.remove('a/b', 'k');
    expect(nodeCount(trie)).toBe(1);
    expect(trie.size).toBe(0);
    expect(trie.match('a/b')).toEqual([]);
    expect([...trie.entries()]).toEqual([]);
  });

  it('entries() lists every (filter, key) once', () => {
    const trie = new SubscriptionTrie<string>();
    const added = [
      ['#', 'a'],
      ['+/x', 'b'],
      ['x/y', 'c'],
      ['x/y', 'd'],
      ['$SYS/#', 'e'],
      ['', 'f'],
    ] as const;
    for (const [filter, key] of added) trie.add(filter, key, `${filter}:${key}`);
    const listed = [...trie.entries()].map((e) => `${e.filter}|${e.key}|${e.value}`).sort();
    expect(listed).toEqual(added.map(([filter, key]) => `${filter}|${key}|${filter}:${key}`).sort());
    expect(trie.size).toBe(added.length);
  });
});

describe('SubscriptionTrie match cache', () => {
  it('returns the same array for a repeated topic (no allocation on the hot path)', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('a/b', 'x', 1);
    trie.match('a/b');
    const second = trie.match('a/b');
    expect(trie.match('a/b')).toBe(second);
    expect(trie.match('a/b')).toBe(second);
  });

  it('is invalidated by add, remove and replace', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('a/b', 'x', 1);
    for (let i = 0; i < 3; i++) expect(trie.match('a/b')).toHaveLength(1);
    trie.add('a/#', 'y', 2);
    for (let i = 0; i < 3; i++) expect(matchedKeys(trie, 'a/b')).toEqual(['a/#|y', 'a/b|x']);
    trie.add('a/#', 'y', 3);
    for (let i = 0; i < 3; i++) expect(trie.match('a/b').find((e) => e.key === 'y')?.value).toBe(3);
    trie.remove('a/b', 'x');
    for (let i = 0; i < 3; i++) expect(matchedKeys(trie, 'a/b')).toEqual(['a/#|y']);
    trie.remove('a/#', 'y');
    for (let i = 0; i < 3; i++) expect(trie.match('a/b')).toEqual([]);
  });

  it('stays bounded, and correct, under a stream of distinct topics', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('t/+', 'k', 1);
    let matched = 0;
    for (let i = 0; i < 25_000; i++) {
      const topic = `t/${i}`;
      trie.match(topic);
      matched += trie.match(topic).length; // second sight: admitted to the cache
    }
    expect(matched).toBe(25_000);
    const cache = (trie as unknown as { cache: Map<string, unknown> }).cache;
    expect(cache.size).toBeLessThanOrEqual(10_000);
    expect(cache.size).toBeGreaterThan(0);
    trie.add('t/#', 'k', 2);
    expect(cache.size).toBe(0);
    // Eviction slots left over from before the clear must not break anything.
    matched = 0;
    for (let i = 0; i < 25_000; i++) matched += trie.match(`t/${i % 12_000}`).length;
    expect(matched).toBe(50_000);
    expect(cache.size).toBeLessThanOrEqual(10_000);
  });
});

describe('SubscriptionTrie against the naive matcher', () => {
  // Levels chosen to collide: literal, empty, '$'-prefixed, and wildcards in every valid position.
  const TOPIC_LEVELS = ['a', 'b', '', '$SYS', '$x', 'c'];
  const FILTER_LEVELS = ['a', 'b', '', '$SYS', '$x', '+', '+'];

  function randomFilter(random: () => number): string {
    const length = 1 + Math.floor(random() * 4);
    const levels = Array.from({ length }, () => FILTER_LEVELS[Math.floor(random() * FILTER_LEVELS.length)]!);
    if (random() < 0.3) levels.push('#');
    return random() < 0.03 ? '#' : levels.join('/');
  }

  function randomTopic(random: () => number): string {
    const length = 1 + Math.floor(random() * 5);
    return Array.from({ length }, () => TOPIC_LEVELS[Math.floor(random() * TOPIC_LEVELS.length)]!).join('/');
  }

  it('agrees on thousands of filters and topics (seeded)', () => {
    const random = prng(20261125);
    const trie = new SubscriptionTrie<number>();
    const live = new Map<string, { filter: string; key: string }>();
    for (let i = 0; i < 4000; i++) {
      const filter = randomFilter(random);
      const key = `k${Math.floor(random() * 5)}`;
      const isNew = !live.has(`${filter}|${key}`);
      expect(trie.add(filter, key, i)).toBe(isNew);
      live.set(`${filter}|${key}`, { filter, key });
    }
    // Remove a third, so pruning is exercised under the same load.
    for (const [id, entry] of [...live].filter((_, i) => i % 3 === 0)) {
      expect(trie.remove(entry.filter, entry.key)).toBe(true);
      live.delete(id);
    }
    expect(trie.size).toBe(live.size);
    expect(live.size).toBeGreaterThan(1000);
    const topics = new Set(Array.from({ length: 1500 }, () => randomTopic(random)));
    for (const topic of topics) expectAgreesWithOracle(trie, live, topic);
    // Again, now served from the cache.
    for (const topic of topics) expectAgreesWithOracle(trie, live, topic);
  });

  it('agrees through any interleaving of add, remove and match (fast-check)', () => {
    const filterArb = fc
      .tuple(fc.array(fc.constantFrom(...FILTER_LEVELS), { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([levels, withHash]) => (withHash ? [...levels, '#'] : levels).join('/'))
      .chain((filter) => fc.constantFrom(filter, filter, '#'));
    const topicArb = fc.array(fc.constantFrom(...TOPIC_LEVELS), { minLength: 1, maxLength: 5 }).map((levels) => levels.join('/'));
    const keyArb = fc.constantFrom('k1', 'k2', 'k3');
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), filter: filterArb, key: keyArb }),
      fc.record({ kind: fc.constant('remove' as const), filter: filterArb, key: keyArb }),
      fc.record({ kind: fc.constant('match' as const), topic: topicArb }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 120 }), fc.array(topicArb, { minLength: 1, maxLength: 5 }), (ops, hotTopics) => {
        const trie = new SubscriptionTrie<number>();
        const live = new Map<string, { filter: string; key: string }>();
        for (const step of ops) {
          if (step.kind === 'add') {
            expect(trie.add(step.filter, step.key, 0)).toBe(!live.has(`${step.filter}|${step.key}`));
            live.set(`${step.filter}|${step.key}`, { filter: step.filter, key: step.key });
          } else if (step.kind === 'remove') {
            expect(trie.remove(step.filter, step.key)).toBe(live.delete(`${step.filter}|${step.key}`));
          } else {
            expectAgreesWithOracle(trie, live, step.topic);
          }
          // A few topics matched after every step: they sit in the cache, so a stale entry would show.
          for (const topic of hotTopics) expectAgreesWithOracle(trie, live, topic);
        }
        expect(trie.size).toBe(live.size);
        for (const { filter, key } of live.values()) trie.remove(filter, key);
        expect(nodeCount(trie)).toBe(1);
      }),
      { seed: 1125, numRuns: 300 },
    );
  });
});
