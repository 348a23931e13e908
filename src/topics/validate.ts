/** Topic name and filter rules of MQTT 3.1.1 section 4.7 and MQTT 5.0 section 4.7. */

export const MAX_TOPIC_BYTES = 65535;

/**
 * Shared checks for names and filters: non-empty [MQTT-4.7.3-1], no U+0000 [MQTT-4.7.3-2],
 * at most 65535 bytes [MQTT-4.7.3-3]. mqtt-packet decodes ill-formed UTF-8 to U+FFFD, so its
 * presence is our only signal of malformed UTF-8 [MQTT-1.5.3-1]; the price is that a client
 * cannot use a literal U+FFFD in a topic, which no real device does.
 */
function isWellFormed(text: string): boolean {
  if (text.length === 0) return false;
  if (text.length * 3 > MAX_TOPIC_BYTES && Buffer.byteLength(text) > MAX_TOPIC_BYTES) return false;
  return !text.includes('\u0000') && !text.includes('\uFFFD');
}

/** A PUBLISH topic name: wildcards are never allowed in it [MQTT-4.7.1-1] [MQTT-3.3.2-2]. */
export function isValidTopicName(topic: string): boolean {
  return isWellFormed(topic) && !topic.includes('+') && !topic.includes('#');
}

function isValidPlainFilter(filter: string): boolean {
  if (!isWellFormed(filter)) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level === '#') {
      // '#' is the whole last level [MQTT-4.7.1-2].
      if (i !== levels.length - 1) return false;
    } else if (level === '+') {
      continue;
    } else if (level.includes('+') || level.includes('#')) {
      // '+' occupies a whole level [MQTT-4.7.1-3].
      return false;
    }
  }
  return true;
}

export interface SharedFilter {
  group: string;
  filter: string;
}

const SHARE_PREFIX = '$share/';

/** Returns {group, filter} for `$share/group/filter`, or undefined for a non-shared filter. */
export function parseSharedFilter(filter: string): SharedFilter | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const rest = filter.slice(SHARE_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return { group: rest, filter: '' };
  return { group: rest.slice(0, slash), filter: rest.slice(slash + 1) };
}

/** A SUBSCRIBE/UNSUBSCRIBE filter, optionally a shared one (`$share/<group>/<filter>`). */
export function isValidTopicFilter(filter: string, allowShared = true): boolean {
  const shared = parseSharedFilter(filter);
  if (!shared) return isValidPlainFilter(filter);
  if (!allowShared) return false;
  // MQTT 5 4.8.2: the share name is non-empty and has no '/', '+' or '#'.
  if (shared.group === '' || shared.group.includes('+') || shared.group.includes('#')) return false;
  return shared.filter !== '' && isValidPlainFilter(shared.filter);
}

export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

/**
 * The naive reference matcher: split both and walk. Used as the oracle in tests and on rare paths.
 * A topic starting with '$' never matches a filter whose first level is a wildcard [MQTT-4.7.2-1].
 */
export function topicMatchesFilter(topic: string, filter: string): boolean {
  const topicLevels = topic.split('/');
  const filterLevels = filter.split('/');
  if (topic.startsWith('$') && (filterLevels[0] === '+' || filterLevels[0] === '#')) return false;
  for (let i = 0; i < filterLevels.length; i++) {
    const f = filterLevels[i]!;
    if (f === '#') return true;
    if (i >= topicLevels.length) return false;
    if (f !== '+' && f !== topicLevels[i]) return false;
  }
  return topicLevels.length === filterLevels.length;
}
