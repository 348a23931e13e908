import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RetainedIndex, topicMatchesFilter } from '../../src/topics/index.js';

const topicsOf = (index: RetainedIndex<unknown>, filter: string): string[] =>
  index
    .match(filter)
    .map((m) => m.topic)
    .sort();

/** White-box: pruning has no public observer, so look at the root's children. */
const rootChildren = (index: RetainedIndex<unknown>): Map<string, unknown> | undefined =>
  (index as unknown as { root: { children: Map<string, unknown> | undefined } }).root.children;

describe('RetainedIndex', () => {
  it('sets, replaces, gets and deletes by topic', () => {
    const index = new RetainedIndex<string>();
    index.set('a/b', 'v1');
    index.set('a/b', 'v2');
    index.set('a/c/d', 'v3');
    index.set('a', 'v4');
    expect(index.size).toBe(3);
    expect(index.get('a/b')).toBe('v2');
    expect(index.get('a/c')).toBeUndefined();
    expect(index.match('a/b')).toEqual([{ topic: 'a/b', value: 'v2' }]);
    expect(index.delete('a/b')).toBe(true);
    expect(index.delete('a/b')).toBe(false);
    expect(index.delete('a/c')).toBe(false); // an inner level, never a topic of its own
    expect(index.size).toBe(2);
    expect([...index.entries()].sort()).toEqual([
      ['a', 'v4'],
      ['a/c/d', 'v3'],
    ]);
  });

  it('[3.1.1 MQTT-3.3.2-3] [5.0 MQTT-3.3.2-3] matches + and # filters; # includes the parent level', () => {
    const index = new RetainedIndex<string>();
    for (const topic of ['a', 'a/b', 'a/c/d', 'a/', 'b/b', 'ab']) index.set(topic, topic);
    expect(topicsOf(index, 'a/#')).toEqual(['a', 'a/', 'a/b', 'a/c/d']);
    expect(topicsOf(index, 'a/+')).toEqual(['a/', 'a/b']);
    expect(topicsOf(index, '+/b')).toEqual(['a/b', 'b/b']);
    expect(topicsOf(index, '+')).toEqual(['a', 'ab']);
    expect(topicsOf(index, '+/+/+')).toEqual(['a/c/d']);
    expect(topicsOf(index, 'a/c/#')).toEqual(['a/c/d']);
    expect(topicsOf(index, 'x/#')).toEqual([]);
    expect(topicsOf(index, '#')).toEqual(['a', 'a/', 'a/b', 'a/c/d', 'ab', 'b/b']);
  });

  it('empty levels are levels', () => {
    const index = new RetainedIndex<string>();
    for (const topic of ['/', '/a', 'a//b', '//']) index.set(topic, topic);
    expect(topicsOf(index, '+/+')).toEqual(['/', '/a']);
    expect(topicsOf(index, '/#')).toEqual(['/', '//', '/a']);
    expect(topicsOf(index, 'a/+/b')).toEqual(['a//b']);
    expect(topicsOf(index, '/')).toEqual(['/']);
  });

  it('[3.1.1 MQTT-4.7.2-1] [5.0 MQTT-4.7.2-1] $ topics are not matched by # or + at the first level', () => {
    const index = new RetainedIndex<string>();
    index.set('$SYS/uptime', 'u');
    index.set('$SYS', 's');
    index.set('plain', 'p');
    index.set('/$SYS', 'slash');
    expect(topicsOf(index, '#')).toEqual(['/$SYS', 'plain']);
    expect(topicsOf(index, '+')).toEqual(['plain']);
    expect(topicsOf(index, '+/uptime')).toEqual([]);
    expect(topicsOf(index, '+/#')).toEqual(['/$SYS', 'plain']);
    expect(topicsOf(index, '$SYS/#')).toEqual(['$SYS', '$SYS/uptime']);
    expect(topicsOf(index, '$SYS/+')).toEqual(['$SYS/uptime']);
    expect(topicsOf(index, '$SYS/uptime')).toEqual(['$SYS/uptime']);
  });

  it('keeps a stored undefined apart from no message', () => {
    const index = new RetainedIndex<string | undefined>();
    index.set('a', undefined);
    expect(index.size).toBe(1);
    expect(index.match('a')).toEqual([{ topic: 'a', value: undefined }]);
    expect(index.match('#')).toEqual([{ topic: 'a', value: undefined }]);
    expect(index.match('b')).toEqual([]);
  });

  it('delete prunes the levels it leaves empty', () => {
    const index = new RetainedIndex<number>();
    index.set('a/b/c', 1);
    index.set('a', 2);
    index.delete('a/b/c');
    expect(topicsOf(index, 'a/#')).toEqual(['a']);
    expect(rootChildren(index)?.size).toBe(1);
    index.delete('a');
    expect(rootChildren(index)).toBeUndefined();
    expect(index.match('#')).toEqual([]);
  });

  it('survives topics far deeper than the call stack (65535-level topics are legal)', () => {
    const index = new RetainedIndex<number>();
    const deep = Array.from({ length: 30_000 }, () => 'a').join('/');
    index.set(deep, 1);
    expect(index.match('#')).toHaveLength(1);
    expect(index.match(Array.from({ length: 30_000 }, () => '+').join('/'))).toHaveLength(1);
    expect(index.delete(deep)).toBe(true);
    expect(rootChildren(index)).toBeUndefined();
  });

  it('agrees with the naive matcher through any interleaving of set, delete and match (fast-check)', () => {
    const level = fc.constantFrom('a', 'b', '', '$SYS', '$x');
    const topicArb = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
    const filterArb = fc
      .tuple(fc.array(fc.constantFrom('a', 'b', '', '$SYS', '$x', '+', '+'), { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([l, withHash]) => (withHash ? [...l, '#'] : l).join('/'))
      .chain((f) => fc.constantFrom(f, f, '#'));
    const op = fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), topic: topicArb, value: fc.integer() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), topic: topicArb }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('match' as const), filter: filterArb }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const index = new RetainedIndex<number>();
        const model = new Map<string, number>();
        for (const step of ops) {
          if (step.kind === 'set') {
            index.set(step.topic, step.value);
            model.set(step.topic, step.value);
          } else if (step.kind === 'delete') {
            expect(index.delete(step.topic)).toBe(model.delete(step.topic));
          } else {
            const expected = [...model].filter(([topic]) => topicMatchesFilter(topic, step.filter)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
            const actual = index.match(step.filter).sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
            expect(
              actual.map((m) => [m.topic, m.value]),
              step.filter,
            ).toEqual(expected);
          }
        }
        expect(index.size).toBe(model.size);
        for (const topic of model.keys()) index.delete(topic);
        expect(rootChildren(index)).toBeUndefined();
      }),
      { seed: 1125, numRuns: 400 },
    );
  });

  it('agrees with the naive matcher on thousands of topics and filters (seeded)', () => {
    const levels = ['a', 'b', 'c', '', '$SYS', 'x'];
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.array(fc.constantFrom(...levels), { minLength: 1, maxLength: 5 }).map((l) => l.join('/')), { minLength: 500, maxLength: 2000 }),
        (topics) => {
          const index = new RetainedIndex<string>();
          for (const topic of topics) index.set(topic, topic);
          const filters = ['#', '+', '+/+', '+/#', 'a/#', '$SYS/#', '+/b/#', '/+', '/#', 'a/+/+/#', '+/+/+/+/+', '$SYS/+/x', 'a//#', 'x/+'];
          for (const filter of filters) expect(topicsOf(index, filter), filter).toEqual(topics.filter((t) => topicMatchesFilter(t, filter)).sort());
        },
      ),
      { seed: 20261125, numRuns: 20 },
    );
  });
});
