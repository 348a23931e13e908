import { describe, expect, it } from 'vitest';
import { isValidTopicFilter, isValidTopicName, parseSharedFilter, topicMatchesFilter } from '../../src/topics/index.js';

describe('topic names', () => {
  it('[MQTT-4.7.1-1] [MQTT-3.3.2-2] wildcards are never allowed in a topic name', () => {
    expect(isValidTopicName('a/+/c')).toBe(false);
    expect(isValidTopicName('a/#')).toBe(false);
    expect(isValidTopicName('a+b')).toBe(false);
    expect(isValidTopicName('a/b/c')).toBe(true);
  });

  it('[MQTT-4.7.3-1] a topic name has at least one character; empty levels are real levels', () => {
    expect(isValidTopicName('')).toBe(false);
    expect(isValidTopicName('/')).toBe(true);
    expect(isValidTopicName('a//b')).toBe(true);
  });

  it('[MQTT-4.7.3-2] [MQTT-1.5.3-2] U+0000 is refused', () => {
    expect(isValidTopicName('a\u0000b')).toBe(false);
    expect(isValidTopicFilter('a/\u0000')).toBe(false);
  });

  it('[MQTT-4.7.3-3] at most 65535 bytes of UTF-8', () => {
    expect(isValidTopicName('a'.repeat(65535))).toBe(true);
    expect(isValidTopicName('a'.repeat(65536))).toBe(false);
    // 3-byte characters: 21845 × 3 = 65535 bytes fits, one more does not.
    expect(isValidTopicName('€'.repeat(21845))).toBe(true);
    expect(isValidTopicName('€'.repeat(21846))).toBe(false);
  });

  it('[MQTT-1.5.3-1] ill-formed UTF-8 (decoded by mqtt-packet as U+FFFD) is refused', () => {
    expect(isValidTopicName(Buffer.from([0x61, 0xc3, 0x62]).toString('utf8'))).toBe(false);
  });

  it('[MQTT-1.5.3-3] [MQTT-4.7.3-4] U+FEFF and other characters are kept as they are', () => {
    expect(isValidTopicName('\uFEFFa')).toBe(true);
    expect(topicMatchesFilter('\uFEFFa', 'a')).toBe(false);
    expect(topicMatchesFilter('\uFEFFa', '\uFEFFa')).toBe(true);
  });
});

describe('topic filters', () => {
  it.each(['#', '+', 'a/#', 'a/+', '+/+', '+/b/#', '/+', 'a//#', 'sport/tennis/+/player1', '$SYS/#'])('accepts %s', (filter) => {
    expect(isValidTopicFilter(filter)).toBe(true);
  });

  it('[MQTT-4.7.1-2] # must be the whole last level', () => {
    expect(isValidTopicFilter('a/#/b')).toBe(false);
    expect(isValidTopicFilter('a#')).toBe(false);
    expect(isValidTopicFilter('a/b#')).toBe(false);
    expect(isValidTopicFilter('#/a')).toBe(false);
  });

  it('[MQTT-4.7.1-3] + must be a whole level', () => {
    expect(isValidTopicFilter('a+')).toBe(false);
    expect(isValidTopicFilter('a/+b')).toBe(false);
    expect(isValidTopicFilter('+a/b')).toBe(false);
  });

  it('[MQTT-4.7.3-1] an empty filter is refused', () => {
    expect(isValidTopicFilter('')).toBe(false);
  });
});

describe('shared filters', () => {
  it('[MQTT-4.8.2-1] [MQTT-4.8.2-2] $share/<name>/<filter> with a non-empty name without / + #', () => {
    expect(parseSharedFilter('$share/g/a/+')).toEqual({ group: 'g', filter: 'a/+' });
    expect(isValidTopicFilter('$share/g/a/+')).toBe(true);
    expect(isValidTopicFilter('$share/g/#')).toBe(true);
    for (const bad of ['$share//a', '$share/g', '$share/g/', '$share/g+/a', '$share/g#/a', '$share/g/a/#/b']) {
      expect(isValidTopicFilter(bad), bad).toBe(false);
    }
    expect(isValidTopicFilter('$share/g/a', false)).toBe(false);
    expect(parseSharedFilter('a/b')).toBeUndefined();
    expect(parseSharedFilter('$shared/g/a')).toBeUndefined();
  });
});

describe('the reference matcher', () => {
  it.each([
    ['sport/tennis/player1', 'sport/tennis/player1/#', true],
    ['sport/tennis/player1/ranking', 'sport/tennis/player1/#', true],
    ['sport', 'sport/#', true],
    ['sport/', 'sport/+', true],
    ['sport', 'sport/+', false],
    ['/finance', '+/+', true],
    ['/finance', '/+', true],
    ['/finance', '+', false],
    ['a/b/c', 'a/+/c', true],
    ['a/b/c/d', 'a/+/c', false],
    ['$SYS/x', '#', false],
    ['$SYS/x', '+/x', false],
    ['$SYS/x', '$SYS/#', true],
    ['$SYS', '$SYS/#', true],
  ])('[MQTT-4.7.2-1] %s against %s → %s', (topic, filter, expected) => {
    expect(topicMatchesFilter(topic, filter)).toBe(expected);
  });
});
