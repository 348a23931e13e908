import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RetainedIndex, topicMatchesFilter } from '../../src/topics/index.js';

const topicsOf = (index: RetainedIndex<string>, filter: string): string[] => index.match(filter).map((m) => m.topic).sort();

describe('RetainedIndex', () => {
  it('sets, replaces, deletes and matches by filter', () => {
    const index = new RetainedIndex<string>();
    index.set('a/b', 'v1');
    index.set('a/b', 'v2');
    index.set('a/c/d', 'v3');
    index.set('a', 'v4');
    expect(index.size).toBe(3);
    expect(index.get('a/b')).toBe('v2');
    expect(topicsOf(index, 'a/#')).toEqual(['a', 'a/b', 'a/c/d']);
    expect(topicsOf(index, 'a/+')).toEqual(['a/b']);
    expect(topicsOf(index, 'a/b')).toEqual(['a/b']);
    expect(index.delete('a/b')).toBe(true);
    expect(index.delete('a/b')).toBe(false);
    expect(topicsOf(index, '#')).toEqual(['a', 'a/c/d']);
  });

  it('[MQTT-4.7.2-1] $ topics are not matched by # or + at the first level', () => {
    const index = new RetainedIndex<string>();
    index.set('$SYS/uptime', 'u');
    index.set('plain', 'p');
    expect(topicsOf(index, '#')).toEqual(['plain']);
    expect(topicsOf(index, '+/uptime')).toEqual([]);
    expect(topicsOf(index, '$SYS/#')).toEqual(['$SYS/uptime']);
  });

  it('randomized cross-check against the naive matcher', () => {
    const level = fc.constantFrom('a', 'b', '', '$x');
    const topicArb = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
    const filterArb = fc
      .tuple(fc.array(fc.constantFrom('a', 'b', '', '$x', '+'), { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([l, hash]) => (hash ? [...l, '#'] : l).join('/'))
      .chain((f) => fc.constantFrom(f, '#'));
    fc.assert(
      fc.property(fc.array(topicArb, { maxLength: 200 }), fc.array(topicArb, { maxLength: 30 }), fc.array(filterArb, { minLength: 20, maxLength: 50 }), (topics, deleted, filters) => {
        const index = new RetainedIndex<string>();
        for (const t of topics) index.set(t, t);
        for (const t of deleted) index.delete(t);
        const live = new Set(topics.filter((t) => !deleted.includes(t)));
        expect(index.size).toBe(live.size);
        for (const filter of filters) {
          expect(topicsOf(index, filter)).toEqual([...live].filter((t) => topicMatchesFilter(t, filter)).sort());
        }
      }),
      { seed: 1125, numRuns: 100 },
    );
  });
});
