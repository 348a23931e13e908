/**
 * The route table: which nodes hold subscribers of which filters. Each node writes its own
 * entries (`<node>.<hash(filter)>` in midge_routes) when its first subscription of a filter
 * appears and deletes them when its last one goes; every node watches the bucket into a trie, so
 * a publish goes only to nodes with matching subscribers. Replication is eventually consistent
 * (a watch lags by milliseconds).
 */
import type { CommitSink } from '../store/index.js';
import { parseSharedFilter, SubscriptionTrie } from '../topics/index.js';
import { decodeJson, encodeJson, type RouteValue } from './codec.js';
import { BUCKETS, keyHash, type Engine, type KvWrite } from './engine.js';

/** What the trie holds per remote node and filter. */
interface RemoteRoute {
  node: string;
  /** `<group>/<filter>` of a shared subscription. */
  groupKey?: string;
}

export interface RouteMatch {
  /** Nodes with plain subscribers. */
  nodes: Set<string>;
  /** Shared groups → the nodes holding members (this node included when it holds one). */
  groups: Map<string, string[]>;
}

export class RouteTable implements CommitSink {
  private readonly localCounts = new Map<string, number>();
  private pendingWrites = new Map<string, KvWrite>();
  private readonly trie = new SubscriptionTrie<RemoteRoute>();
  /** KV key → the filter it names, to remove what a delete refers to. */
  private readonly remoteKeys = new Map<string, { node: string; filter: string }>();
  private isLoaded = false;
  private watchStop: (() => void) | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly nodeId: string,
    private readonly onPending: () => void,
  ) {}

  get loaded(): boolean {
    return this.isLoaded;
  }

  get remoteRouteCount(): number {
    return this.remoteKeys.size;
  }

  get localFilterCount(): number {
    return this.localCounts.size;
  }

  /** Route entries in the engine that name this node (after a restart: to reconcile). */
  ownRemoteKeys(): string[] {
    return [...this.remoteKeys.entries()].filter(([, v]) => v.node === this.nodeId).map(([k]) => k);
  }

  filterAdded(filter: string): void {
    const count = this.localCounts.get(filter) ?? 0;
    this.localCounts.set(filter, count + 1);
    if (count === 0) this.queue(filter, encodeJson({ filter } satisfies RouteValue));
  }

  filterRemoved(filter: string): void {
    const count = this.localCounts.get(filter) ?? 0;
    if (count <= 1) {
      this.localCounts.delete(filter);
      if (count === 1) this.queue(filter, undefined);
    } else {
      this.localCounts.set(filter, count - 1);
    }
  }

  /** Removes the node's entries that no local subscription stands behind (after a restart). */
  reconcileOwn(): void {
    for (const key of this.ownRemoteKeys()) {
      const filter = this.remoteKeys.get(key)!.filter;
      if (!this.localCounts.has(filter)) this.queue(filter, undefined);
    }
  }

  /** Removes every entry of a dead node (its adopter does this once its sessions moved). */
  removeNode(node: string): void {
    for (const [key, value] of this.remoteKeys) {
      if (value.node === node) this.pendingWrites.set(key, { bucket: BUCKETS.routes, key, value: undefined });
    }
    if (this.pendingWrites.size > 0) this.onPending();
  }

  private queue(filter: string, value: Uint8Array | undefined): void {
    const key = `${this.nodeId}.${keyHash(filter)}`;
    this.pendingWrites.set(key, { bucket: BUCKETS.routes, key, value });
    this.onPending();
  }

  hasPending(): boolean {
    return this.pendingWrites.size > 0;
  }

  takeBatch(): (() => Promise<void>) | undefined {
    if (this.pendingWrites.size === 0) return undefined;
    const writes = [...this.pendingWrites.values()];
    this.pendingWrites = new Map();
    return () => this.engine.writeKv(writes);
  }

  match(topic: string): RouteMatch {
    const nodes = new Set<string>();
    const groups = new Map<string, string[]>();
    for (const entry of this.trie.match(topic)) {
      const route = entry.value;
      if (route.groupKey === undefined) {
        if (route.node !== this.nodeId) nodes.add(route.node);
        continue;
      }
      const list = groups.get(route.groupKey);
      if (list) list.push(route.node);
      else groups.set(route.groupKey, [route.node]);
    }
    return { nodes, groups };
  }

  /** Whether this node's view shows `node` holding subscribers of exactly `filter`. */
  hasRoute(node: string, filter: string): boolean {
    return this.remoteKeys.has(`${node}.${keyHash(filter)}`);
  }

  /** The other nodes holding members of a shared group (`<group>/<filter>`), sorted. */
  nodesOfGroup(groupKey: string): string[] {
    const nodes = new Set<string>();
    for (const { node, filter } of this.remoteKeys.values()) {
      if (node === this.nodeId) continue;
      const shared = parseSharedFilter(filter);
      if (shared && `${shared.group}/${shared.filter}` === groupKey) nodes.add(node);
    }
    return [...nodes].sort();
  }

  /** Watches the bucket; resolves once its initial values are in. */
  async start(): Promise<void> {
    const kv = this.engine.bucket(BUCKETS.routes);
    let markLoaded!: () => void;
    const loaded = new Promise<void>((resolve) => (markLoaded = resolve));
    const iterator = await kv.watch({
      key: '>',
      initializedFn: () => {
        this.isLoaded = true;
        markLoaded();
      },
    });
    this.watchStop = () => iterator.stop();
    void (async () => {
      for await (const entry of iterator) {
        if (entry.operation === 'PUT') this.applyPut(entry.key, decodeJson<RouteValue>(entry.value).filter);
        else this.applyDelete(entry.key);
      }
    })();
    await loaded;
  }

  private applyPut(key: string, filter: string): void {
    const node = key.slice(0, key.indexOf('.'));
    if (this.remoteKeys.has(key)) return;
    this.remoteKeys.set(key, { node, filter });
    const shared = parseSharedFilter(filter);
    if (shared) this.trie.add(shared.filter, key, { node, groupKey: `${shared.group}/${shared.filter}` });
    else this.trie.add(filter, key, { node });
  }

  private applyDelete(key: string): void {
    const known = this.remoteKeys.get(key);
    if (!known) return;
    this.remoteKeys.delete(key);
    const shared = parseSharedFilter(known.filter);
    this.trie.remove(shared ? shared.filter : known.filter, key);
  }

  stop(): void {
    this.watchStop?.();
  }
}
