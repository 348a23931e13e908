/**
 * Retained messages indexed by topic name and matchable by a filter. Topics live in a level tree
 * so a wildcard subscription walks only the branches its filter can reach.
 */

class LevelNode<T> {
  readonly children = new Map<string, LevelNode<T>>();
  topic: string | undefined;
  value: T | undefined;
  hasValue = false;
}

export class RetainedIndex<T> {
  private readonly root = new LevelNode<T>();
  private readonly byTopic = new Map<string, T>();

  get size(): number {
    return this.byTopic.size;
  }

  get(topic: string): T | undefined {
    return this.byTopic.get(topic);
  }

  set(topic: string, value: T): void {
    let node = this.root;
    for (const level of topic.split('/')) {
      let child = node.children.get(level);
      if (!child) {
        child = new LevelNode();
        node.children.set(level, child);
      }
      node = child;
    }
    node.topic = topic;
    node.value = value;
    node.hasValue = true;
    this.byTopic.set(topic, value);
  }

  delete(topic: string): boolean {
    if (!this.byTopic.delete(topic)) return false;
    const path: Array<{ parent: LevelNode<T>; level: string }> = [];
    let node = this.root;
    for (const level of topic.split('/')) {
      path.push({ parent: node, level });
      node = node.children.get(level)!;
    }
    node.hasValue = false;
    node.value = undefined;
    node.topic = undefined;
    for (let i = path.length - 1; i >= 0 && !node.hasValue && node.children.size === 0; i--) {
      const { parent, level } = path[i]!;
      parent.children.delete(level);
      node = parent;
    }
    return true;
  }

  match(filter: string): Array<{ topic: string; value: T }> {
    const out: Array<{ topic: string; value: T }> = [];
    if (!filter.includes('+') && !filter.includes('#')) {
      const value = this.byTopic.get(filter);
      if (value !== undefined || this.byTopic.has(filter)) out.push({ topic: filter, value: value as T });
      return out;
    }
    this.walk(this.root, filter.split('/'), 0, out);
    return out;
  }

  *entries(): IterableIterator<[string, T]> {
    yield* this.byTopic.entries();
  }

  private walk(node: LevelNode<T>, levels: string[], depth: number, out: Array<{ topic: string; value: T }>): void {
    if (depth === levels.length) {
      if (node.hasValue) out.push({ topic: node.topic!, value: node.value as T });
      return;
    }
    const level = levels[depth]!;
    if (level === '#') {
      // "a/#" includes "a" itself; at the root, '$' topics are excluded [MQTT-4.7.2-1].
      if (node.hasValue && depth > 0) out.push({ topic: node.topic!, value: node.value as T });
      this.collectAll(node, depth === 0, out);
      return;
    }
    if (level === '+') {
      for (const [name, child] of node.children) {
        if (depth === 0 && name.startsWith('$')) continue;
        this.walk(child, levels, depth + 1, out);
      }
      return;
    }
    const child = node.children.get(level);
    if (child) this.walk(child, levels, depth + 1, out);
  }

  private collectAll(node: LevelNode<T>, isRoot: boolean, out: Array<{ topic: string; value: T }>): void {
    for (const [name, child] of node.children) {
      if (isRoot && name.startsWith('$')) continue;
      if (child.hasValue) out.push({ topic: child.topic!, value: child.value as T });
      this.collectAll(child, false, out);
    }
  }
}
