import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SubscriptionTrie, topicMatchesFilter } from '../../src/topics/index.js';

const keysOf = (trie: SubscriptionTrie<number>, topic: string): string[] =>
  trie
    .match(topic)
    .map((e) => `${e.filter}|${e.key}`)
    .sort();

describe('SubscriptionTrie', () => {
  it('matches literal, + and # filters, # including its parent level', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('a/b', 'c1', 1);
    trie.add('a/+', 'c2', 2);
    trie.add('a/#', 'c3', 3);
    trie.add('#', 'c4', 4);
    trie.add('+/+/c', 'c5', 5);
    expect(keysOf(trie, 'a/b')).toEqual(['#|c4', 'a/#|c3', 'a/+|c2', 'a/b|c1']);
    expect(keysOf(trie, 'a')).toEqual(['#|c4', 'a/#|c3']);
    expect(keysOf(trie, 'a/b/c')).toEqual(['#|c4', '+/+/c|c5', 'a/#|c3']);
    expect(keysOf(trie, 'x')).toEqual(['#|c4']);
  });

  it('empty levels are levels', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('/+', 'a', 1);
    trie.add('+/+', 'b', 1);
    trie.add('a//b', 'c', 1);
    expect(keysOf(trie, '/x')).toEqual(['+/+|b', '/+|a']);
    expect(keysOf(trie, 'a//b')).toEqual(['a//b|c']);
    expect(keysOf(trie, 'a/b')).toEqual(['+/+|b']);
  });

  it('[MQTT-4.7.2-1] $ topics are not matched by filters starting with + or #', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('#', 'all', 1);
    trie.add('+/info', 'plus', 1);
    trie.add('$SYS/#', 'sys', 1);
    trie.add('$SYS/+', 'sysplus', 1);
    expect(keysOf(trie, '$SYS/info')).toEqual(['$SYS/#|sys', '$SYS/+|sysplus']);
    expect(keysOf(trie, 'x/info')).toEqual(['#|all', '+/info|plus']);
    // '$' elsewhere than the first character of the first level is ordinary.
    expect(keysOf(trie, 'a/$b')).toEqual(['#|all']);
  });

  it('add replaces per (filter, key); remove prunes; size and get follow', () => {
    const trie = new SubscriptionTrie<number>();
    expect(trie.add('a/+', 'c', 1)).toBe(true);
    expect(trie.add('a/+', 'c', 2)).toBe(false);
    expect(trie.add('a/+', 'd', 3)).toBe(true);
    expect(trie.size).toBe(2);
    expect(trie.get('a/+', 'c')).toBe(2);
    expect(trie.match('a/x').map((e) => e.value).sort()).toEqual([2, 3]);
    expect(trie.remove('a/+', 'c')).toBe(true);
    expect(trie.remove('a/+', 'c')).toBe(false);
    expect(trie.remove('never/added', 'c')).toBe(false);
    expect(trie.size).toBe(1);
    expect(trie.remove('a/+', 'd')).toBe(true);
    expect(trie.match('a/x')).toEqual([]);
    expect([...trie.entries()]).toEqual([]);
  });

  it('the match cache is invalidated by add and remove', () => {
    const trie = new SubscriptionTrie<number>();
    trie.add('a/b', 'x', 1);
    expect(trie.match('a/b')).toHaveLength(1);
    expect(trie.match('a/b')).toBe(trie.match('a/b')); // cached: same array, no allocation
    trie.add('a/#', 'y', 2);
    expect(trie.match('a/b')).toHaveLength(2);
    trie.remove('a/b', 'x');
    expect(trie.match('a/b').map((e) => e.key)).toEqual(['y']);
  });

  it('randomized cross-check against the naive matcher (seeded, thousands of filters and topics)', () => {
    const level = fc.constantFrom('a', 'b', 'c', '', '$SYS', 'x');
    const filterLevel = fc.constantFrom('a', 'b', 'c', '', '$SYS', '+');
    const filterArb = fc
      .tuple(fc.array(filterLevel, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([levels, withHash]) => (withHash ? [...levels, '#'] : levels).join('/'))
      .chain((f) => fc.constantFrom(f, '#'));
    const topicArb = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));
    fc.assert(
      fc.property(fc.array(filterArb, { minLength: 50, maxLength: 300 }), fc.array(topicArb, { minLength: 50, maxLength: 100 }), (filters, topics) => {
        const trie = new SubscriptionTrie<number>();
        filters.forEach((f, i) => trie.add(f, `k${i % 7}`, i));
        // Some removals, so pruning is exercised too.
        filters.slice(0, 20).forEach((f, i) => trie.remove(f, `k${i % 7}`));
        const live = new Map<string, string>();
        filters.forEach((f, i) => live.set(`${f}|k${i % 7}`, f));
        filters.slice(0, 20).forEach((f, i) => live.delete(`${f}|k${i % 7}`));
        for (const topic of topics) {
          const expected = [...live.entries()].filter(([, f]) => topicMatchesFilter(topic, f)).map(([k]) => k).sort();
          expect(keysOf(trie, topic)).toEqual(expected);
        }
      }),
      { seed: 20261125, numRuns: 60 },
    );
  });
});
