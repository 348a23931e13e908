import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasWildcard, isValidTopicFilter, isValidTopicName, MAX_TOPIC_BYTES, parseSharedFilter, topicMatchesFilter } from '../../src/topics/index.js';

/** What a broker gets from mqtt-packet for these bytes: Buffer decoding turns ill-formed UTF-8 into U+FFFD. */
const decoded = (...bytes: number[]): string => Buffer.from(bytes).toString('utf8');

describe('topic names', () => {
  it('[3.1.1 MQTT-4.7.1-1] [3.1.1 MQTT-3.3.2-2] [5.0 MQTT-3.3.2-2] wildcard characters are never allowed in a topic name', () => {
    for (const name of ['a/+/c', '+', '#', 'a/#', 'a+b', 'a#b', 'sport/tennis#']) expect(isValidTopicName(name), name).toBe(false);
    expect(isValidTopicName('sport/tennis/player1')).toBe(true);
  });

  it('[3.1.1 MQTT-4.7.3-1] [5.0 MQTT-4.7.3-1] a topic name is at least one character; empty levels are real levels', () => {
    expect(isValidTopicName('')).toBe(false);
    for (const name of ['a', '/', '//', 'a//b', '/a', 'a/']) expect(isValidTopicName(name), name).toBe(true);
  });

  it('[3.1.1 MQTT-4.7.3-2] [5.0 MQTT-4.7.3-2] [3.1.1 MQTT-1.5.3-2] [5.0 MQTT-1.5.4-2] U+0000 is refused anywhere', () => {
    expect(isValidTopicName('a\u0000b')).toBe(false);
    expect(isValidTopicName('\u0000')).toBe(false);
    expect(isValidTopicName('a/b\u0000')).toBe(false);
  });

  it('[3.1.1 MQTT-4.7.3-3] [5.0 MQTT-4.7.3-3] at most 65535 bytes of UTF-8, counted in bytes, not characters', () => {
    expect(MAX_TOPIC_BYTES).toBe(65535);
    expect(isValidTopicName('a'.repeat(65535))).toBe(true);
    expect(isValidTopicName('a'.repeat(65536))).toBe(false);
    // 2-byte characters: 32767 × 2 + 1 = 65535 fits, one more byte does not.
    expect(isValidTopicName('é'.repeat(32767) + 'a')).toBe(true);
    expect(isValidTopicName('é'.repeat(32768))).toBe(false);
    // 3-byte characters: 21845 × 3 = 65535 fits.
    expect(isValidTopicName('€'.repeat(21845))).toBe(true);
    expect(isValidTopicName('€'.repeat(21845) + 'a')).toBe(false);
    // 4-byte characters are two UTF-16 code units: 16383 × 4 + 3 = 65535 fits.
    expect(isValidTopicName('😀'.repeat(16383) + 'abc')).toBe(true);
    expect(isValidTopicName('😀'.repeat(16384))).toBe(false);
  });

  it('[3.1.1 MQTT-1.5.3-1] [5.0 MQTT-1.5.4-1] ill-formed UTF-8 (decoded by mqtt-packet as U+FFFD) is refused', () => {
    const illFormed = [
      decoded(0x61, 0xc3, 0x62), // truncated 2-byte sequence
      decoded(0x80), // lone continuation byte
      decoded(0xc0, 0xaf), // overlong encoding of '/'
      decoded(0xed, 0xa0, 0x80), // an encoded surrogate, U+D800
      decoded(0xff, 0x61),
      decoded(0xf4, 0x90, 0x80, 0x80), // beyond U+10FFFF
    ];
    for (const name of illFormed) {
      expect(name).toContain('\uFFFD');
      expect(isValidTopicName(name)).toBe(false);
      expect(isValidTopicFilter(`${name}/#`)).toBe(false);
    }
    // The trade-off: a literal U+FFFD sent as valid UTF-8 (EF BF BD) is refused too.
    expect(isValidTopicName(decoded(0xef, 0xbf, 0xbd))).toBe(false);
  });

  it('[3.1.1 MQTT-1.5.3-1] [5.0 MQTT-1.5.4-1] lone surrogates (possible through the embedding API) are refused; pairs are fine', () => {
    for (const name of ['a\uD800', '\uD800a', '\uDC00', 'a\uDC00\uD800b']) expect(isValidTopicName(name), JSON.stringify(name)).toBe(false);
    expect(isValidTopicName('a/\uD83D\uDE00/b')).toBe(true);
  });

  it('[3.1.1 MQTT-1.5.3-3] [5.0 MQTT-1.5.4-3] [3.1.1 MQTT-4.7.3-4] [5.0 MQTT-4.7.3-4] U+FEFF and other characters are kept as they are', () => {
    expect(isValidTopicName('\uFEFFa')).toBe(true);
    expect(topicMatchesFilter('\uFEFFa', 'a')).toBe(false);
    expect(topicMatchesFilter('\uFEFFa', '\uFEFFa')).toBe(true);
    expect(topicMatchesFilter('A', 'a')).toBe(false); // case-sensitive, no normalization
  });

  it('names starting with $ are valid names (the broker just refuses to let clients publish $SYS)', () => {
    expect(isValidTopicName('$SYS/broker/uptime')).toBe(true);
    expect(isValidTopicName('$')).toBe(true);
  });
});

describe('topic filters', () => {
  it.each(['#', '+', 'a/#', 'a/+', '+/+', '+/b/#', '/+', '+/', '/#', 'a//#', '//', 'sport/tennis/+/player1', '$SYS/#', '+/+/+', 'a/+/#', '$share', '$sharex/g/a'])(
    'accepts %s',
    (filter) => {
      expect(isValidTopicFilter(filter)).toBe(true);
    },
  );

  it('[3.1.1 MQTT-4.7.1-2] [5.0 MQTT-4.7.1-1] # stands alone or right after /, and is the last character', () => {
    for (const filter of ['a/#/b', 'a#', 'a/b#', '#/a', '#a', '##', 'a/##', '#/', '#/#', 'a/#/']) expect(isValidTopicFilter(filter), filter).toBe(false);
  });

  it('[3.1.1 MQTT-4.7.1-3] [5.0 MQTT-4.7.1-2] + occupies a whole level', () => {
    for (const filter of ['a+', 'a/+b', '+a/b', 'a/b+', '++', '+/++', 'a/+#']) expect(isValidTopicFilter(filter), filter).toBe(false);
  });

  it('[3.1.1 MQTT-4.7.3-1] [5.0 MQTT-4.7.3-1] an empty filter is refused', () => {
    expect(isValidTopicFilter('')).toBe(false);
  });

  it('[3.1.1 MQTT-4.7.3-2] [5.0 MQTT-4.7.3-2] [3.1.1 MQTT-1.5.3-2] [5.0 MQTT-1.5.4-2] U+0000 is refused', () => {
    expect(isValidTopicFilter('a/\u0000')).toBe(false);
    expect(isValidTopicFilter('\u0000/#')).toBe(false);
  });

  it('[3.1.1 MQTT-4.7.3-3] [5.0 MQTT-4.7.3-3] at most 65535 bytes', () => {
    expect(isValidTopicFilter('a'.repeat(65533) + '/#')).toBe(true);
    expect(isValidTopicFilter('a'.repeat(65534) + '/#')).toBe(false);
  });

  it('hasWildcard tells filters that need a tree walk from exact topics', () => {
    expect(hasWildcard('a/+')).toBe(true);
    expect(hasWildcard('#')).toBe(true);
    expect(hasWildcard('a/b')).toBe(false);
    expect(hasWildcard('$SYS/x')).toBe(false);
  });

  it('agrees with a naive split-and-Buffer.byteLength validator on random strings', () => {
    const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    const isWellFormedNaive = (s: string): boolean =>
      s.length > 0 && !s.includes('\u0000') && !s.includes('\uFFFD') && !LONE_SURROGATE.test(s) && Buffer.byteLength(s) <= 65535;
    const naiveName = (s: string): boolean => isWellFormedNaive(s) && !/[+#]/.test(s);
    const naiveFilter = (s: string): boolean => {
      if (!isWellFormedNaive(s)) return false;
      const levels = s.split('/');
      return levels.every((level, i) => (level === '#' ? i === levels.length - 1 : level === '+' || !/[+#]/.test(level)));
    };
    const piece = fc.constantFrom('a', '/', '+', '#', '', '\u0000', '\uFFFD', 'é', '€', '\uD83D', '\uDE00', '\uD83D\uDE00', '$');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), (pieces) => {
        const s = pieces.join('');
        expect(isValidTopicName(s)).toBe(naiveName(s));
        if (!s.startsWith('$share/')) expect(isValidTopicFilter(s)).toBe(naiveFilter(s));
      }),
      { seed: 4711, numRuns: 5000 },
    );
  });
});

describe('shared filters', () => {
  it('[5.0 MQTT-4.8.2-1] [5.0 MQTT-4.8.2-2] $share/<name>/<filter>: a non-empty name without / + #, then a filter', () => {
    expect(parseSharedFilter('$share/g/a/+')).toEqual({ group: 'g', filter: 'a/+' });
    expect(parseSharedFilter('$share/group-1/#')).toEqual({ group: 'group-1', filter: '#' });
    expect(parseSharedFilter('$share/g/$SYS/#')).toEqual({ group: 'g', filter: '$SYS/#' });
    for (const good of ['$share/g/a/+', '$share/g/#', '$share/g/+', '$share/g//', '$share/g/$SYS/#', '$share/$g/a']) expect(isValidTopicFilter(good), good).toBe(true);
    for (const bad of ['$share//a', '$share/g', '$share/g/', '$share/', '$share/g+/a', '$share/+/a', '$share/#/a', '$share/g#/a', '$share/g/a/#/b', '$share/g/a+']) {
      expect(isValidTopicFilter(bad), bad).toBe(false);
    }
  });

  it('[3.1.1 MQTT-1.5.3-1] [5.0 MQTT-1.5.4-1] [3.1.1 MQTT-1.5.3-2] [5.0 MQTT-1.5.4-2] [3.1.1 MQTT-4.7.3-3] [5.0 MQTT-4.7.3-3] encoding, NUL and length rules cover the share name too', () => {
    expect(isValidTopicFilter('$share/g\u0000/a')).toBe(false);
    expect(isValidTopicFilter('$share/\uFFFD/a')).toBe(false);
    expect(isValidTopicFilter('$share/\uD800/a')).toBe(false);
    // The whole string is what goes on the wire: 7 + 1 + 1 + 65526 = 65535 bytes.
    expect(isValidTopicFilter(`$share/g/${'a'.repeat(65526)}`)).toBe(true);
    expect(isValidTopicFilter(`$share/g/${'a'.repeat(65527)}`)).toBe(false);
  });

  it('refuses shared filters where they are not allowed, and does not see them in plain filters', () => {
    expect(isValidTopicFilter('$share/g/a', false)).toBe(false);
    expect(isValidTopicFilter('a/b', false)).toBe(true);
    expect(parseSharedFilter('a/b')).toBeUndefined();
    expect(parseSharedFilter('$shared/g/a')).toBeUndefined();
    expect(parseSharedFilter('$share')).toBeUndefined();
    expect(parseSharedFilter('x/$share/g/a')).toBeUndefined();
  });
});

describe('the reference matcher', () => {
  it.each([
    // The non-normative examples of 3.1.1 section 4.7.1.
    ['sport/tennis/player1', 'sport/tennis/player1/#', true],
    ['sport/tennis/player1/ranking', 'sport/tennis/player1/#', true],
    ['sport/tennis/player1/score/wimbledon', 'sport/tennis/player1/#', true],
    ['sport', 'sport/#', true],
    ['sport/tennis/player1', 'sport/tennis/+', true],
    ['sport/tennis/player1/ranking', 'sport/tennis/+', false],
    ['sport', 'sport/+', false],
    ['sport/', 'sport/+', true],
    ['/finance', '+/+', true],
    ['/finance', '/+', true],
    ['/finance', '+', false],
    ['a/b/c', 'a/+/c', true],
    ['a/b/c/d', 'a/+/c', false],
    ['a', '#', true],
    ['/', '#', true],
    ['ab', 'a/#', false],
  ])('%s against %s → %s', (topic, filter, expected) => {
    expect(topicMatchesFilter(topic, filter)).toBe(expected);
  });

  it.each([
    ['$SYS/x', '#', false],
    ['$SYS/x', '+/x', false],
    ['$SYS/x', '+/#', false],
    ['$SYS/x', '$SYS/#', true],
    ['$SYS/x', '$SYS/+', true],
    ['$SYS', '$SYS/#', true],
    ['$', '#', false],
    ['/$SYS', '#', true], // the first level is empty: the topic does not start with '$'
    ['a/$SYS', 'a/+', true],
  ])('[3.1.1 MQTT-4.7.2-1] [5.0 MQTT-4.7.2-1] %s against %s → %s', (topic, filter, expected) => {
    expect(topicMatchesFilter(topic, filter)).toBe(expected);
  });
});
