/** Topic name and filter rules: MQTT 3.1.1 section 4.7 and 1.5.3, MQTT 5.0 sections 4.7 and 4.8.2. */

export const MAX_TOPIC_BYTES = 65535;

const NUL = 0x00;
const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;
const DOLLAR = 0x24;
const REPLACEMENT_CHARACTER = 0xfffd;

/**
 * One pass over the UTF-16 code units, counting UTF-8 bytes as it goes (no Buffer.byteLength: this
 * runs for every PUBLISH). Refuses the empty string [3.1.1 MQTT-4.7.3-1] [5.0 MQTT-4.7.3-1], U+0000 [3.1.1 MQTT-4.7.3-2] [5.0 MQTT-4.7.3-2]
 * [3.1.1 MQTT-1.5.3-2] [5.0 MQTT-1.5.4-2], more than 65535 bytes [3.1.1 MQTT-4.7.3-3] [5.0 MQTT-4.7.3-3] and ill-formed
 * text [3.1.1 MQTT-1.5.3-1] [5.0 MQTT-1.5.4-1].
 *
 * Ill-formed UTF-8 never reaches us as such: mqtt-packet decodes it to U+FFFD, so U+FFFD is our only
 * signal of it and we refuse it. The price is that a client cannot use a genuine U+FFFD in a topic,
 * which no real device does; the gain is that a corrupted topic never silently aliases another.
 * Lone surrogates cannot come out of the decoder, but can come from the embedding API, and UTF-8
 * cannot encode them, so they are refused too.
 *
 * With `isFilter`, '+' must be a whole level [3.1.1 MQTT-4.7.1-3] [5.0 MQTT-4.7.1-2] and '#' the whole
 * last level [3.1.1 MQTT-4.7.1-2] [5.0 MQTT-4.7.1-1]; without it, neither may appear at all
 * [3.1.1 MQTT-4.7.1-1] [5.0 MQTT-3.3.2-2].
 */
function isWellFormed(text: string, isFilter: boolean): boolean {
  const length = text.length;
  if (length === 0) return false;
  let bytes = 0;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) {
      bytes += 1;
      if (code === NUL) return false;
      if (code === PLUS) {
        if (!isFilter) return false;
        if (i > 0 && text.charCodeAt(i - 1) !== SLASH) return false;
        if (i + 1 < length && text.charCodeAt(i + 1) !== SLASH) return false;
      } else if (code === HASH) {
        if (!isFilter) return false;
        if (i > 0 && text.charCodeAt(i - 1) !== SLASH) return false;
        if (i + 1 !== length) return false;
      }
    } else if (code < 0x800) {
      bytes += 2;
    } else if (code >= 0xd800 && code <= 0xdbff) {
      const next = i + 1 < length ? text.charCodeAt(i + 1) : 0;
      if (next < 0xdc00 || next > 0xdfff) return false;
      bytes += 4;
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      return false;
    } else {
      if (code === REPLACEMENT_CHARACTER) return false;
      bytes += 3;
    }
  }
  return bytes <= MAX_TOPIC_BYTES;
}

/** A PUBLISH topic name: well-formed and without wildcards [3.1.1 MQTT-4.7.1-1] [5.0 MQTT-3.3.2-2]. */
export function isValidTopicName(topic: string): boolean {
  return isWellFormed(topic, false);
}

export interface SharedFilter {
  group: string;
  filter: string;
}

const SHARE_PREFIX = '$share/';

/** Returns {group, filter} for `$share/group/filter`, or undefined for a non-shared filter. Assumes the filter was validated. */
export function parseSharedFilter(filter: string): SharedFilter | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  if (slash < 0) return { group: filter.slice(SHARE_PREFIX.length), filter: '' };
  return { group: filter.slice(SHARE_PREFIX.length, slash), filter: filter.slice(slash + 1) };
}

/**
 * A SUBSCRIBE/UNSUBSCRIBE filter. `$share/<group>/<filter>` is accepted when `allowShared` (and
 * refused otherwise, rather than read as a plain filter: callers that pass false, such as the admin
 * API, mean "no shared subscriptions here").
 */
export function isValidTopicFilter(filter: string, allowShared = true): boolean {
  // The whole string is what travels on the wire, so encoding, NUL and length apply to all of it;
  // the wildcard rules on the whole imply them on the inner filter, whose levels are its last ones.
  if (!isWellFormed(filter, true)) return false;
  if (!filter.startsWith(SHARE_PREFIX)) return true;
  if (!allowShared) return false;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  // MQTT 5.0 4.8.2: the share name is at least one character, without '/', '+' or '#'
  // [5.0 MQTT-4.8.2-1] [5.0 MQTT-4.8.2-2], and a non-empty topic filter follows it.
  if (slash <= SHARE_PREFIX.length || slash === filter.length - 1) return false;
  for (let i = SHARE_PREFIX.length; i < slash; i++) {
    const code = filter.charCodeAt(i);
    if (code === PLUS || code === HASH) return false;
  }
  return true;
}

export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

/**
 * The naive reference matcher: split both and compare level by level. It is the oracle the trie and
 * the retained index are tested against, so it stays obviously correct rather than fast.
 */
export function topicMatchesFilter(topic: string, filter: string): boolean {
  const topicLevels = topic.split('/');
  const filterLevels = filter.split('/');
  // [3.1.1 MQTT-4.7.2-1] [5.0 MQTT-4.7.2-1] a filter starting with a wildcard never matches a topic starting with '$'.
  if (topic.charCodeAt(0) === DOLLAR && (filterLevels[0] === '+' || filterLevels[0] === '#')) return false;
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i]!;
    if (level === '#') return true; // also matches the parent level: "a/#" matches "a"
    if (i >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[i]) return false;
  }
  return topicLevels.length === filterLevels.length;
}
