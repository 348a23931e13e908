/**
 * Retained messages indexed by topic name and matchable by a filter. Topics also live in a level
 * tree so a wildcard subscription walks only the branches its filter can reach. Walks are iterative:
 * a topic may have up to 65535 levels, too deep for recursion.
 */
import { hasWildcard } from './validate.js';

const DOLLAR = 0x24;

class LevelNode<T> {
  children: Map<string, LevelNode<T>> | undefined = undefined;
  /** Set when a retained message ends at this level; `value` alone cannot say so when T admits undefined. */
  hasValue = false;
  topic = '';
  value: T | undefined = undefined;
}

export class RetainedIndex<T> {
  private readonly root = new LevelNode<T>();
  /** Each topic's node in the tree: replacing a topic's message (the common case) needs no walk. */
  private readonly byTopic = new Map<string, LevelNode<T>>();

  get size(): number {
    return this.byTopic.size;
  }

  get(topic: string): T | undefined {
    return this.byTopic.get(topic)?.value;
  }

  /** Stores the message for the topic, replacing any earlier one. */
  set(topic: string, value: T): void {
    const existing = this.byTopic.get(topic);
    if (existing !== undefined) {
      existing.value = value;
      return;
    }
    let node = this.root;
    for (const level of topic.split('/')) {
      node.children ??= new Map();
      let child = node.children.get(level);
      if (child === undefined) {
        child = new LevelNode<T>();
        node.children.set(level, child);
      }
      node = child;
    }
    node.hasValue = true;
    node.topic = topic;
    node.value = value;
    this.byTopic.set(topic, node);
  }

  delete(topic: string): boolean {
    if (!this.byTopic.delete(topic)) return false;
    const levels = topic.split('/');
    const path: LevelNode<T>[] = [];
    let node = this.root;
    for (const level of levels) {
      path.push(node);
      node = node.children!.get(level)!;
    }
    node.hasValue = false;
    node.topic = '';
    node.value = undefined;
    for (let depth = levels.length - 1; depth >= 0 && !node.hasValue && node.children === undefined; depth--) {
      const parent = path[depth]!;
      parent.children!.delete(levels[depth]!);
      if (parent.children!.size === 0) parent.children = undefined;
      node = parent;
    }
    return true;
  }

  /** Every stored (topic, value) whose topic matches the filter; '$' topics are not matched by a leading wildcard [3.1.1 MQTT-4.7.2-1] [5.0 MQTT-4.7.2-1]. */
  match(filter: string): Array<{ topic: string; value: T }> {
    const out: Array<{ topic: string; value: T }> = [];
    if (!hasWildcard(filter)) {
      const node = this.byTopic.get(filter);
      if (node !== undefined) out.push({ topic: filter, value: node.value as T });
      return out;
    }
    const levels = filter.split('/');
    const nodes: LevelNode<T>[] = [this.root];
    const depths: number[] = [0];
    while (nodes.length > 0) {
      const node = nodes.pop()!;
      const depth = depths.pop()!;
      if (depth === levels.length) {
        if (node.hasValue) out.push({ topic: node.topic, value: node.value as T });
        continue;
      }
      const level = levels[depth]!;
      if (level === '#') {
        // "a/#" also matches "a"; the root itself never holds a message.
        if (node.hasValue) out.push({ topic: node.topic, value: node.value as T });
        collectBelow(node, depth === 0, out);
      } else if (level === '+') {
        if (node.children === undefined) continue;
        for (const [name, child] of node.children) {
          if (depth === 0 && name.charCodeAt(0) === DOLLAR) continue;
          nodes.push(child);
          depths.push(depth + 1);
        }
      } else {
        const child = node.children?.get(level);
        if (child !== undefined) {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    }
    return out;
  }

  *entries(): IterableIterator<[string, T]> {
    for (const [topic, node] of this.byTopic) yield [topic, node.value as T];
  }
}

/** Every message strictly below `start`; from the root, '$' branches are skipped [3.1.1 MQTT-4.7.2-1] [5.0 MQTT-4.7.2-1]. */
function collectBelow<T>(start: LevelNode<T>, isRoot: boolean, out: Array<{ topic: string; value: T }>): void {
  const stack: LevelNode<T>[] = [];
  if (start.children !== undefined) {
    for (const [name, child] of start.children) if (!(isRoot && name.charCodeAt(0) === DOLLAR)) stack.push(child);
  }
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.hasValue) out.push({ topic: node.topic, value: node.value as T });
    if (node.children !== undefined) for (const child of node.children.values()) stack.push(child);
  }
}
