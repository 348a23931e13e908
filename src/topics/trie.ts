/**
 * The subscription trie: topic filters → subscriber entries, matched against topic names.
 * Pure data structure: no I/O, no timers. `match` results are cached per topic until the trie
 * changes, so a steady stream of known topics allocates nothing.
 */

export interface TrieEntry<T> {
  readonly filter: string;
  readonly key: string;
  readonly value: T;
}

class TrieNode<T> {
  readonly children = new Map<string, TrieNode<T>>();
  plus: TrieNode<T> | undefined;
  hash: TrieNode<T> | undefined;
  /** Entries whose filter ends exactly at this node, by key. */
  entries: Map<string, TrieEntry<T>> | undefined;
  /** The same entries as an array: matching copies from it (measured ~2x faster than a Map walk). */
  list: TrieEntry<T>[] = [];

  get isEmpty(): boolean {
    return this.children.size === 0 && !this.plus && !this.hash && this.list.length === 0;
  }
}

const MATCH_CACHE_LIMIT = 10_000;

export class SubscriptionTrie<T> {
  private readonly root = new TrieNode<T>();
  private count = 0;
  private readonly cache = new Map<string, TrieEntry<T>[]>();
  private readonly seenOnce = new Set<string>();

  get size(): number {
    return this.count;
  }

  add(filter: string, key: string, value: T): boolean {
    let node = this.root;
    for (const level of filter.split('/')) node = this.childFor(node, level, true)!;
    node.entries ??= new Map();
    const previous = node.entries.get(key);
    const entry = { filter, key, value };
    node.entries.set(key, entry);
    const isNew = previous === undefined;
    if (isNew) {
      node.list.push(entry);
      this.count++;
    } else {
      node.list[node.list.indexOf(previous)] = entry;
    }
    this.clearCache();
    return isNew;
  }

  remove(filter: string, key: string): boolean {
    const path: Array<{ node: TrieNode<T>; level: string }> = [];
    let node: TrieNode<T> | undefined = this.root;
    for (const level of filter.split('/')) {
      path.push({ node, level });
      node = this.childFor(node, level, false);
      if (!node) return false;
    }
    const entry = node.entries?.get(key);
    if (!entry) return false;
    node.entries!.delete(key);
    node.list.splice(node.list.indexOf(entry), 1);
    this.count--;
    this.clearCache();
    // Prune nodes left empty, from the leaf up.
    for (let i = path.length - 1; i >= 0 && node.isEmpty; i--) {
      const { node: parent, level } = path[i]!;
      if (level === '+') parent.plus = undefined;
      else if (level === '#') parent.hash = undefined;
      else parent.children.delete(level);
      node = parent;
    }
    return true;
  }

  private clearCache(): void {
    this.cache.clear();
    this.seenOnce.clear();
  }

  get(filter: string, key: string): T | undefined {
    let node: TrieNode<T> | undefined = this.root;
    for (const level of filter.split('/')) {
      node = this.childFor(node, level, false);
      if (!node) return undefined;
    }
    return node.entries?.get(key)?.value;
  }

  match(topic: string): readonly TrieEntry<T>[] {
    const cached = this.cache.get(topic);
    if (cached) return cached;
    const result: TrieEntry<T>[] = [];
    const levels = topic.split('/');
    // [MQTT-4.7.2-1] at the root, a '$' topic skips the wildcard branches: structural, so no
    // caller can forget it.
    const isDollar = topic.charCodeAt(0) === 0x24;
    this.collect(this.root, levels, 0, result, isDollar);
    // Admission on the second sighting: a stream of never-repeated topics would otherwise fill
    // the cache with results that are never read again (measured: 3x slower misses from GC).
    if (!this.seenOnce.has(topic)) {
      if (this.seenOnce.size >= MATCH_CACHE_LIMIT) this.seenOnce.clear();
      this.seenOnce.add(topic);
      return result;
    }
    this.seenOnce.delete(topic);
    if (this.cache.size >= MATCH_CACHE_LIMIT) {
      // Evict the oldest entry (Map keeps insertion order).
      this.cache.delete(this.cache.keys().next().value as string);
    }
    this.cache.set(topic, result);
    return result;
  }

  *entries(): IterableIterator<TrieEntry<T>> {
    const stack: TrieNode<T>[] = [this.root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      yield* node.list;
      for (const child of node.children.values()) stack.push(child);
      if (node.plus) stack.push(node.plus);
      if (node.hash) stack.push(node.hash);
    }
  }

  private childFor(node: TrieNode<T>, level: string, create: boolean): TrieNode<T> | undefined {
    if (level === '+') return create ? (node.plus ??= new TrieNode()) : node.plus;
    if (level === '#') return create ? (node.hash ??= new TrieNode()) : node.hash;
    let child = node.children.get(level);
    if (!child && create) {
      child = new TrieNode();
      node.children.set(level, child);
    }
    return child;
  }

  private collect(node: TrieNode<T>, levels: string[], depth: number, out: TrieEntry<T>[], isDollarRoot: boolean): void {
    const allowWildcards = !(isDollarRoot && depth === 0);
    // '#' matches the parent level too ("a/#" matches "a") and everything below.
    if (allowWildcards && node.hash) pushAll(out, node.hash.list);
    if (depth === levels.length) {
      pushAll(out, node.list);
      return;
    }
    const child = node.children.get(levels[depth]!);
    if (child) this.collect(child, levels, depth + 1, out, isDollarRoot);
    if (allowWildcards && node.plus) this.collect(node.plus, levels, depth + 1, out, isDollarRoot);
  }
}

function pushAll<T>(out: T[], items: readonly T[]): void {
  for (let i = 0; i < items.length; i++) out.push(items[i]!);
}
