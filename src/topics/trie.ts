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
  /** Entries whose filter ends exactly at this node. */
  entries: Map<string, TrieEntry<T>> | undefined;

  get isEmpty(): boolean {
    return this.children.size === 0 && !this.plus && !this.hash && (!this.entries || this.entries.size === 0);
  }
}

const MATCH_CACHE_LIMIT = 10_000;

export class SubscriptionTrie<T> {
  private readonly root = new TrieNode<T>();
  private count = 0;
  private readonly cache = new Map<string, TrieEntry<T>[]>();

  get size(): number {
    return this.count;
  }

  add(filter: string, key: string, value: T): boolean {
    let node = this.root;
    for (const level of filter.split('/')) node = this.childFor(node, level, true)!;
    node.entries ??= new Map();
    const isNew = !node.entries.has(key);
    node.entries.set(key, { filter, key, value });
    if (isNew) this.count++;
    this.cache.clear();
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
    if (!node.entries?.delete(key)) return false;
    this.count--;
    this.cache.clear();
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
      if (node.entries) yield* node.entries.values();
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
    if (allowWildcards && node.hash?.entries) for (const entry of node.hash.entries.values()) out.push(entry);
    if (depth === levels.length) {
      if (node.entries) for (const entry of node.entries.values()) out.push(entry);
      return;
    }
    const child = node.children.get(levels[depth]!);
    if (child) this.collect(child, levels, depth + 1, out, isDollarRoot);
    if (allowWildcards && node.plus) this.collect(node.plus, levels, depth + 1, out, isDollarRoot);
  }
}
