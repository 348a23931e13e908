/**
 * The cluster service: makes this broker one node of several on the engine. It routes publishes
 * to the nodes with subscribers (route table + node link), delivers what other nodes send here,
 * mirrors retained messages, claims client ids (ownership) and releases sessions to other nodes.
 * The broker consults it through ClusterHooks (CONNECT) and the router's PeerRouting.
 */
import { Counter, Gauge } from 'prom-client';
import type { Broker, ClusterHooks, PeerRouting } from '../broker/index.js';
import type { Logger } from '../observability/index.js';
import { decodeMessage, type Message, type SubscriptionRecord } from '../store/index.js';
import { parseSharedFilter, topicMatchesFilter } from '../topics/index.js';
import { decodeJson, encodeJson, type Delivery } from './codec.js';
import { adoptedKey, BUCKETS, keyHash, NODE_LEASE_MS, releaseSubject, type Engine, type KvEntry, type Msg } from './engine.js';
import { Liveness } from './liveness.js';
import { NodeLink, type InboxHandler } from './node-link.js';
import { Ownership } from './ownership.js';
import { RouteTable } from './route-table.js';
import type { ClusterStore } from './session-store.js';

/** Payload bytes a message may have to go to another node (engine max_payload 1 MiB, minus headroom). */
const MAX_FORWARD_PAYLOAD = 900 * 1024;

interface Heartbeat {
  node: string;
  boot: number;
  at: number;
}

export class ClusterService implements ClusterHooks, PeerRouting {
  readonly nodeId: string;
  private readonly routes: RouteTable;
  private readonly link: NodeLink;
  private readonly ownership: Ownership;
  private readonly logger: Logger;
  private isRetainedLoaded = false;
  private isStarted = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private deathWatch: NodeJS.Timeout | undefined;
  private readonly liveness: Liveness;
  private isAdopting = false;
  private readonly adoptions = new Map<
    string,
    { adopted: Set<string>; routesLater: Array<{ clientId: string; subscriptions: SubscriptionRecord[] }>; chained: Set<string>; finished: Promise<void>; finish: () => void }
  >();
  private isFenced = false;
  private oversizeRefused = 0;
  private retainedStop: (() => void) | undefined;
  private readonly bootedAt = Date.now();
  /** Round-robin position per shared group, for picking the node of a group delivery. */
  private readonly groupTurn = new Map<string, number>();

  constructor(
    private readonly engine: Engine,
    private readonly store: ClusterStore,
    private readonly broker: Broker,
  ) {
    this.nodeId = engine.config.nodeId;
    this.logger = broker.logger;
    const notePending = (): void => broker.committer.notePending();
    this.routes = new RouteTable(engine, this.nodeId, notePending);
    this.link = new NodeLink(engine, this.nodeId, this.logger, notePending);
    this.ownership = new Ownership(engine, this.nodeId);
    this.liveness = new Liveness(engine, this.nodeId, this.bootedAt, this.logger);
  }

  get isReady(): boolean {
    return this.isStarted && !this.isFenced && this.engine.isConnected && this.routes.loaded && this.isRetainedLoaded;
  }

  async start(): Promise<void> {
    const broker = this.broker;
    broker.router.peers = this;
    broker.committer.addSink(this.routes);
    broker.committer.addSink(this.link);
    // Engine calls at start are retried: a JetStream API timeout while the engine is busy (or
    // electing) must not stop the node.
    const retry = <T>(what: string, fn: () => Promise<T>): Promise<T> => this.engine.retry(what, fn, 30);
    await Promise.all([retry('route view', () => this.routes.start()), retry('retained view', () => this.startRetainedView())]);
    await this.link.start({
      onBatch: (deliveries, seq, done) => {
        for (const delivery of deliveries) this.deliverHere(delivery);
        this.store.noteApplied(this.nodeId, seq);
        broker.committer.afterCommit(done);
      },
      appliedUpTo: await retry('applied mark', () => this.store.appliedUpTo(this.nodeId)),
      onQos0: (deliveries) => {
        for (const delivery of deliveries) this.deliverHere(delivery);
      },
    });
    this.engine.nc.subscribe(releaseSubject(this.nodeId), { callback: (error, msg) => !error && void this.onReleaseRequest(msg) });
    await retry('liveness view', () => this.liveness.start());
    await retry('heartbeat', () => this.beat());
    this.heartbeat = setInterval(() => void this.beat().catch(() => undefined), 1000);
    this.heartbeat.unref();
    this.deathWatch = setInterval(() => void this.adoptDeadNodes().catch(() => undefined), 1000);
    this.deathWatch.unref();
    // After a restart of this node: the sessions it owned come back with their subscriptions.
    await retry('own sessions', () => this.adoptOwnSessions());
    this.routes.reconcileOwn();
    await broker.committer.drain();
    this.registerMetrics();
    this.isStarted = true;
    this.logger.info({ node: this.nodeId, remoteRoutes: this.routes.remoteRouteCount, retained: broker.router.retained.size }, 'cluster: node joined');
  }

  /** Cluster series on the broker's own /metrics registry, read at scrape time. */
  private registerMetrics(): void {
    const registers = [this.broker.metrics.registry];
    const link = this.link;
    const routes = this.routes;
    const self = this;
    new Counter({
      name: 'midge_cluster_forwarded_messages_total',
      help: 'Messages this node sent to other nodes (inbox or QoS 0), by destination node',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const [node, count] of link.forwardedByNode) this.inc({ node }, count);
      },
    });
    new Counter({
      name: 'midge_cluster_received_messages_total',
      help: 'Messages other nodes sent to this one',
      registers,
      collect() {
        this.reset();
        this.inc(link.received);
      },
    });
    new Gauge({ name: 'midge_cluster_routes', help: 'Route entries (node, filter) in this node\'s view of the cluster', registers, collect() { this.set(routes.remoteRouteCount); } });
    new Gauge({ name: 'midge_cluster_engine_connected', help: 'Engine connection: 1 up, 0 down', registers, collect() { this.set(self.engine.isConnected ? 1 : 0); } });
    new Gauge({ name: 'midge_cluster_ready', help: '1 when this node is ready (engine connected, views loaded, not fenced)', registers, collect() { this.set(self.isReady ? 1 : 0); } });
  }

  private async beat(): Promise<void> {
    try {
      if (this.isStarted && !this.isFenced && (await this.isAdoptedByAnother())) this.fence();
      if (this.isFenced) return;
      const value: Heartbeat = { node: this.nodeId, boot: this.bootedAt, at: Date.now() };
      await this.engine.bucket(BUCKETS.nodes).put(this.nodeId, encodeJson(value));
    } catch (error) {
      this.liveness.noteBeat(false);
      throw error;
    }
    this.liveness.noteBeat(true);
  }

  /**
   * Another node adopted this one (it was paused or cut off for a lease) since it booted: it must
   * not write on. The lock says so while the adoption runs; the record (midge_sess, no TTL: the
   * lock lapses with its lease and is deleted at the end) says so after it.
   */
  private async isAdoptedByAnother(): Promise<boolean> {
    const isAfterBoot = (entry: KvEntry | null): boolean => !!entry && entry.operation === 'PUT' && decodeJson<{ at: number }>(entry.value).at > this.bootedAt;
    const [lock, record] = await Promise.all([
      this.engine.bucket(BUCKETS.nodes).get(`adopt.${this.nodeId}`),
      this.engine.bucket(BUCKETS.sessions).get(adoptedKey(this.nodeId)),
    ]);
    return isAfterBoot(lock) || isAfterBoot(record);
  }

  private fence(): void {
    this.isFenced = true;
    this.liveness.stopAnswering();
    this.logger.error('cluster: this node was adopted by another (it was unreachable too long); it stops serving clients');
    for (const connection of [...this.broker.clients.values()]) {
      connection.disconnectWithReason(0x9c, 'this node left the cluster; connect to another');
      connection.destroy('server-shutdown');
    }
    this.link.stop();
  }

  /** Nodes with an inbox that are dead (Liveness says when): adopted (one adopter wins the lock). */
  private async adoptDeadNodes(): Promise<void> {
    if (!this.isStarted || this.isFenced || this.isAdopting) return;
    for (const node of await this.link.inboxNodes()) {
      if (node === this.nodeId) continue;
      if (await this.liveness.isDead(node)) await this.adopt(node);
    }
  }

  /**
   * Adopts a dead node: takes its persistent sessions by owner compare-and-set (their wills are
   * published, their timers run here), reads what its inbox still holds into them, removes its
   * routes and its consumer. Resolves once done, or once another adopter finished.
   */
  private async adopt(node: string): Promise<void> {
    const kv = this.engine.bucket(BUCKETS.nodes);
    const lockKey = `adopt.${node}`;
    // Restarted (or back) since it was found dead: nothing to adopt. Asked before the lock is
    // taken: a live node that sees a lock or an adoption record newer than its boot fences itself.
    if (await this.liveness.answersPing(node, 1)) return;
    let revision: number;
    try {
      revision = await kv.create(lockKey, encodeJson({ by: this.nodeId, at: Date.now() }));
    } catch {
      // Someone else adopts it: wait until their lock is gone (it lapses with its lease too).
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const lock = await kv.get(lockKey);
        if (!lock || lock.operation !== 'PUT') return;
        await new Promise((r) => setTimeout(r, 100));
      }
      return;
    }
    this.isAdopting = true;
    const renew = setInterval(() => {
      void kv
        .update(lockKey, encodeJson({ by: this.nodeId, at: Date.now() }), revision)
        .then((r) => (revision = r))
        .catch(() => undefined);
    }, 2000);
    const broker = this.broker;
    const startedAt = Date.now();
    const pendingChains: string[] = [];
    try {
      // Sessions first, without their routes: what the dead node's inbox holds goes into them
      // before anything published from now on, so each publisher's order is kept.
      // Kept across a failed attempt, so a retry finishes what the first one took over.
      let progress = this.adoptions.get(node);
      if (!progress) {
        let finish!: () => void;
        const finished = new Promise<void>((resolve) => (finish = resolve));
        this.adoptions.set(node, (progress = { adopted: new Set(), routesLater: [], chained: new Set(), finished, finish }));
      }
      const { adopted, routesLater } = progress;
      for (const clientId of await this.ownership.ownedBy(node)) {
        const origins = await this.ownership.takeFrom(clientId, node);
        if (!origins) continue;
        // A dead node this one was itself adopting when it died: finished below.
        for (const origin of origins) if (origin !== node) progress.chained.add(origin);
        if (broker.sessions.get(clientId)) continue;
        const stored = await this.store.loadStored(clientId);
        if (!stored || stored.session.expiryInterval === 0) continue;
        if (!broker.restoreSession({ ...stored, subscriptions: [] }, broker.now())) continue;
        const session = broker.sessions.get(clientId)!;
        for (const subscription of stored.subscriptions) session.subscriptions.set(subscription.filter, subscription);
        await broker.loadSessionState(session);
        adopted.add(clientId);
        routesLater.push({ clientId, subscriptions: stored.subscriptions });
      }
      // Sessions an adopter of `node` took over and then died with: they came here since.
      for (const clientId of await this.ownership.adoptedHereFrom(node)) {
        if (broker.sessions.get(clientId)) adopted.add(clientId);
      }
      const appliedUpTo = await this.store.appliedUpTo(node);
      const handler: InboxHandler = {
        appliedUpTo,
        onBatch: (deliveries, seq, done) => {
          for (const delivery of deliveries) this.deliverToSessions(delivery, adopted);
          this.store.noteApplied(node, seq);
          broker.committer.afterCommit(done);
        },
        onQos0: () => undefined,
      };
      let batches = await this.link.drain(node, handler, 'what-is-there');
      // Now the sessions route here, and the dead node's routes go; what publishers sent it
      // before they saw that is read in a second pass.
      // The unfinished adoption's node must not be routed to any more either: its inbox is read
      // into these sessions below (by its own adoption), and nothing new should go there.
      for (const origin of progress.chained) this.routes.removeNode(origin);
      for (const { clientId, subscriptions } of routesLater.splice(0)) {
        if (!broker.sessions.get(clientId)) continue;
        for (const subscription of subscriptions) broker.router.addSubscription(clientId, subscription);
      }
      this.routes.removeNode(node);
      await broker.committer.drain();
      await new Promise((r) => setTimeout(r, 200));
      batches += await this.link.drain(node, handler, 'to-the-end');
      await broker.committer.drain();
      const movedShared = this.moveSharedDeliveries(adopted, node);
      await broker.committer.drain();
      await this.link.removeConsumer(node);
      // Read by the dead node if it was only cut off and comes back: it fences itself.
      await this.engine.retry('adoption record', () => this.engine.bucket(BUCKETS.sessions).put(adoptedKey(node), encodeJson({ by: this.nodeId, at: Date.now() })));
      const chained = [...progress.chained];
      this.adoptions.delete(node);
      progress.finish();
      for (const origin of chained) pendingChains.push(origin);
      this.liveness.forget(node);
      this.logger.warn(
        { deadNode: node, sessions: adopted.size, inboxBatches: batches, movedShared, ms: Date.now() - startedAt },
        'cluster: adopted a dead node (its sessions and inbox)',
      );
    } catch (error) {
      this.logger.error({ err: (error as Error).message, deadNode: node }, 'cluster: adoption failed; another node will retry');
    } finally {
      clearInterval(renew);
      this.isAdopting = false;
      await kv.delete(lockKey).catch(() => undefined);
    }
    // What the dead node's own unfinished adoptions left in other dead inboxes reaches the
    // sessions now here (adoptedHereFrom picks them).
    for (const origin of pendingChains) await this.adopt(origin);
  }

  /** A delivery from a dead node's inbox: to the sessions adopted from it whose subscriptions match. */
  private deliverToSessions(delivery: Delivery, clientIds: ReadonlySet<string>): void {
    const { message, publisherId } = delivery;
    const groupsServed = new Set<string>();
    for (const clientId of clientIds) {
      const session = this.broker.sessions.get(clientId);
      if (!session) continue;
      let qos = -1;
      let isRetainAsPublished = false;
      let ids: number[] | undefined;
      for (const subscription of session.subscriptions.values()) {
        const shared = parseSharedFilter(subscription.filter);
        if (!topicMatchesFilter(message.topic, shared ? shared.filter : subscription.filter)) continue;
        if (shared) {
          // As the router does: a delivery of its own per group, marked with the group, so it
          // can move to another member later (this session is offline).
          const key = `${shared.group}/${shared.filter}`;
          if (!delivery.groups?.includes(key) || groupsServed.has(key)) continue;
          groupsServed.add(key);
          const sharedQos = Math.min(message.qos, subscription.qos) as Message['qos'];
          const sharedIds = subscription.subscriptionId === undefined ? undefined : [subscription.subscriptionId];
          session.deliver(message, sharedQos, subscription.retainAsPublished && message.retain, sharedIds, key);
          continue;
        }
        if (subscription.noLocal && clientId === publisherId) continue;
        qos = Math.max(qos, Math.min(message.qos, subscription.qos));
        isRetainAsPublished ||= subscription.retainAsPublished;
        if (subscription.subscriptionId !== undefined) (ids ??= []).push(subscription.subscriptionId);
      }
      if (qos >= 0) session.deliver(message, qos as Message['qos'], isRetainAsPublished && message.retain, ids);
    }
  }

  /** midge_retained → the router's retained index, on every node. */
  private async startRetainedView(): Promise<void> {
    const kv = this.engine.bucket(BUCKETS.retained);
    let markLoaded!: () => void;
    const loaded = new Promise<void>((resolve) => (markLoaded = resolve));
    const byKey = new Map<string, string>();
    const iterator = await kv.watch({
      key: '>',
      initializedFn: () => {
        this.isRetainedLoaded = true;
        markLoaded();
      },
    });
    this.retainedStop = () => iterator.stop();
    void (async () => {
      for await (const entry of iterator) {
        if (entry.operation === 'PUT') {
          let message: Message;
          try {
            message = decodeMessage(entry.key, Buffer.from(entry.value.buffer, entry.value.byteOffset, entry.value.byteLength));
          } catch (error) {
            this.logger.warn({ err: (error as Error).message }, 'cluster: unreadable retained message skipped');
            continue;
          }
          byKey.set(entry.key, message.topic);
          this.broker.router.restoreRetained(message);
        } else {
          const topic = byKey.get(entry.key);
          byKey.delete(entry.key);
          if (topic !== undefined) this.broker.router.forgetRetained(topic);
        }
      }
    })();
    await loaded;
  }

  // --- routing ----------------------------------------------------------------------------

  forward(message: Message, publisherId: string | undefined): number {
    this.skipGroups.clear();
    const match = this.routes.match(message.topic);
    const perNode = new Map<string, Delivery>();
    const deliveryFor = (node: string): Delivery => {
      let delivery = perNode.get(node);
      if (!delivery) {
        delivery = publisherId === undefined ? { message } : { message, publisherId };
        perNode.set(node, delivery);
      }
      return delivery;
    };
    for (const node of match.nodes) deliveryFor(node);
    for (const [groupKey, nodes] of match.groups) {
      // One node of the group takes the message, in turn; that node's router picks the member.
      const turn = this.groupTurn.get(groupKey) ?? 0;
      this.groupTurn.set(groupKey, turn + 1);
      const sorted = [...new Set(nodes)].sort();
      let node = sorted[turn % sorted.length]!;
      let isDeclinedHere = false;
      if (node === this.nodeId && sorted.length > 1 && !this.broker.router.hasOnlineSharedMember(groupKey)) {
        // Only offline members here (e.g. sessions adopted from a dead node): another node's
        // member may be online, so the message goes there rather than into an offline queue.
        node = sorted[(sorted.indexOf(node) + 1) % sorted.length]!;
        isDeclinedHere = true;
      }
      if (node === this.nodeId) continue;
      const delivery = deliveryFor(node);
      (delivery.groups ??= []).push(groupKey);
      if (isDeclinedHere) delivery.declinedBy = [this.nodeId];
      this.skipGroups.add(groupKey);
    }
    if (perNode.size > 0 && message.payload.length > MAX_FORWARD_PAYLOAD) {
      // The engine's max_payload (1 MiB) bounds what can cross nodes: refused, never retried forever.
      this.oversizeRefused++;
      if (this.oversizeRefused % 100 === 1) this.logger.warn({ topic: message.topic, bytes: message.payload.length }, 'cluster: message too large to cross nodes; delivered on this node only');
      return 0;
    }
    let count = 0;
    for (const [node, delivery] of perNode) {
      this.link.send(node, delivery);
      count++;
    }
    return count;
  }

  /** Shared groups another node was picked for during the current route() call. */
  private readonly skipGroups = new Set<string>();

  filterAdded(filter: string): void {
    this.routes.filterAdded(filter);
  }

  filterRemoved(filter: string): void {
    this.routes.filterRemoved(filter);
  }

  /** The shared groups a delivery from another node asks this node to serve (while it is routed). */
  private peerGroups: ReadonlySet<string> | undefined;

  isSharedHere(groupKey: string): boolean {
    return this.peerGroups ? this.peerGroups.has(groupKey) : !this.skipGroups.has(groupKey);
  }

  /** A delivery another node sent here: this node's subscribers only, and the groups it was picked for. */
  private deliverHere(delivery: Delivery): void {
    const groups = new Set(delivery.groups ?? []);
    if (groups.size > 0) this.passOnGroups(delivery, groups);
    this.peerGroups = groups;
    try {
      this.broker.router.routeLocal(delivery.message, delivery.publisherId);
    } finally {
      this.peerGroups = undefined;
    }
  }

  /**
   * The groups of a delivery that have no member online here go on to another node of the group
   * that has not passed them on yet (design: "if it has none left, it sends the delivery on");
   * with none left, they stay here (an offline member holds the message for the group).
   * Called while the delivery's batch is handled: the inbox ack waits for the onward send.
   */
  private passOnGroups(delivery: Delivery, groups: Set<string>): void {
    const declined = [...(delivery.declinedBy ?? []), this.nodeId];
    const onward = new Map<string, string[]>();
    for (const groupKey of groups) {
      if (this.broker.router.hasOnlineSharedMember(groupKey)) continue;
      const next = this.routes.nodesOfGroup(groupKey).find((n) => !declined.includes(n));
      if (next === undefined) continue;
      groups.delete(groupKey);
      const list = onward.get(next);
      if (list) list.push(groupKey);
      else onward.set(next, [groupKey]);
    }
    for (const [node, groupKeys] of onward) {
      const next: Delivery = { message: delivery.message, groups: groupKeys, declinedBy: declined };
      if (delivery.publisherId !== undefined) next.publisherId = delivery.publisherId;
      this.link.send(node, next);
    }
  }

  /**
   * After an adoption: what the adopted (offline) sessions hold through shared groups — queued,
   * or sent and never acknowledged at QoS 1 — goes to another member, here if one is online,
   * else on another node of the group [5.0 4.8.2: a message of a shared group is for the group].
   */
  private moveSharedDeliveries(clientIds: ReadonlySet<string>, deadNode: string): number {
    const router = this.broker.router;
    let moved = 0;
    for (const clientId of clientIds) {
      const session = this.broker.sessions.get(clientId);
      if (!session || session.isOnline) continue;
      for (const filter of session.subscriptions.keys()) {
        const shared = parseSharedFilter(filter);
        if (!shared) continue;
        const groupKey = `${shared.group}/${shared.filter}`;
        if (router.hasOnlineSharedMember(groupKey, clientId)) {
          moved += router.redistributeShared(session, groupKey);
          continue;
        }
        const node = this.routes.nodesOfGroup(groupKey).find((n) => n !== deadNode);
        if (node === undefined) continue;
        for (const record of session.takeSharedDeliveries((key) => key === groupKey)) {
          this.link.send(node, { message: record.message, groups: [groupKey], declinedBy: [this.nodeId] });
          moved++;
        }
      }
    }
    return moved;
  }

  // --- ownership --------------------------------------------------------------------------

  async claim(clientId: string, isCleanStart: boolean): Promise<boolean> {
    const claim = this.claimOnce(clientId, isCleanStart);
    this.claiming.set(clientId, claim);
    try {
      return await claim;
    } finally {
      if (this.claiming.get(clientId) === claim) this.claiming.delete(clientId);
    }
  }

  /** CONNECTs of this node in the middle of claiming an id: a release request waits for them. */
  private readonly claiming = new Map<string, Promise<boolean>>();

  private async claimOnce(clientId: string, isCleanStart: boolean): Promise<boolean> {
    const broker = this.broker;
    if (this.isFenced) return false;
    let result = await this.ownership.claim(clientId);
    this.logger.debug({ clientId, ...result }, 'cluster: claim');
    // The owner did not answer the release request. Dead, its inbox reaches the session (by its
    // adoption) before the session moves here; alive but reconnecting to another engine server,
    // it answers the next request. Liveness tells the two apart (a lease of silence and no ping).
    const deadline = Date.now() + 3 * NODE_LEASE_MS;
    while (result.deadNode !== undefined && Date.now() < deadline) {
      if (await this.liveness.isDead(result.deadNode)) await this.adopt(result.deadNode);
      else await new Promise((r) => setTimeout(r, 500));
      result = await this.ownership.claim(clientId);
    }
    if (!result.isOwner) return false;
    if (result.previousNode !== undefined && result.previousNode !== this.nodeId) {
      this.logger.debug({ clientId, from: result.previousNode }, 'cluster: client id moved here');
    }
    if (broker.sessions.get(clientId)) return true;
    if (isCleanStart) {
      // Whatever the engine still holds of an earlier session ends now [3.1.1 MQTT-3.1.2-6] [5.0 MQTT-3.1.2-4].
      broker.committer.add({ type: 'deleteSession', clientId });
      return true;
    }
    const stored = await this.store.loadStored(clientId);
    if (stored && !broker.sessions.get(clientId)) broker.restoreSession(stored, broker.now());
    return true;
  }

  /** Another node's CONNECT claims a client id this node may hold: hand the session over. */
  private async onReleaseRequest(msg: Msg): Promise<void> {
    const broker = this.broker;
    let clientId: string;
    try {
      clientId = decodeJson<{ clientId: string }>(msg.data).clientId;
    } catch {
      return;
    }
    try {
      // A CONNECT of this node claiming the same id finishes first (won or lost); the connection
      // taken over below is taken once its CONNACK is out: closed while registered but not yet
      // acknowledged (its CONNACK waits for the commit), its client would get no CONNACK at all
      // (nothing but AUTH before CONNACK [5.0 MQTT-3.2.0-1]).
      const local = this.claiming.get(clientId);
      const hasLocalWinner = local !== undefined && (await local.catch(() => false));
      const isSettled = (): boolean => {
        const connection = broker.clients.get(clientId);
        if (!connection) return !hasLocalWinner;
        return connection.state === 'connected' || connection.isClosed;
      };
      const deadline = Date.now() + 5000;
      while (!isSettled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      const connection = broker.clients.get(clientId);
      if (connection) {
        // [3.1.1 MQTT-3.1.4-2] [5.0 MQTT-3.1.4-3] the existing connection is closed (5.0: DISCONNECT 0x8E first).
        connection.isTakenOver = true;
        connection.disconnectWithReason(0x8e, 'session taken over by a connection on another node');
        connection.destroy('session-taken-over');
      }
      // What the inbox still holds for the session is delivered into it before it moves; so is
      // what a dead node's inbox holds, when this node is adopting that node right now.
      for (const progress of this.adoptions.values()) if (progress.adopted.has(clientId)) await progress.finished;
      await this.link.caughtUp(5000);
      await broker.committer.drain();
      const session = broker.sessions.get(clientId);
      if (session && !session.isOnline) {
        // Forgotten here, not deleted: the session lives on in the engine for the new node.
        // (Expiry 0 makes discard skip the store delete; its subscriptions leave the routes.)
        session.expiryInterval = 0;
        broker.discardSession(session);
        await broker.committer.drain();
      }
      msg.respond(encodeJson({ ok: true }));
    } catch (error) {
      this.logger.warn({ err: (error as Error).message, clientId }, 'cluster: release failed');
      msg.respond(encodeJson({ ok: false }));
    }
  }

  /** Sessions the engine says this node owns (it restarted): loaded again, routes restored. */
  private async adoptOwnSessions(): Promise<void> {
    const owned = await this.ownership.ownedBy(this.nodeId);
    let restored = 0;
    for (const clientId of owned) {
      if (this.broker.sessions.get(clientId)) continue;
      const stored = await this.store.loadStored(clientId);
      if (stored && stored.session.expiryInterval > 0 && this.broker.restoreSession(stored, this.broker.now())) restored++;
    }
    if (restored > 0) this.logger.info({ sessions: restored }, 'cluster: sessions of this node restored from the engine');
  }

  async status(): Promise<Record<string, unknown>> {
    const nodes: Heartbeat[] = [];
    try {
      const values = await this.engine.readPrefix(BUCKETS.nodes, '>');
      for (const value of values.values()) nodes.push(decodeJson<Heartbeat>(value));
    } catch {
      /* engine unavailable: report what is known locally */
    }
    const now = Date.now();
    return {
      node: this.nodeId,
      isReady: this.isReady,
      engineConnected: this.engine.isConnected,
      nodes: nodes.map((n) => ({ node: n.node, state: now - n.at < NODE_LEASE_MS ? 'up' : 'silent', lastSeenMs: now - n.at })),
      routes: { local: this.routes.localFilterCount, cluster: this.routes.remoteRouteCount },
      forwardedByNode: Object.fromEntries(this.link.forwardedByNode),
      batchesByNode: Object.fromEntries(this.link.batchesByNode),
      receivedFromPeers: this.link.received,
      inboxLag: await this.link.lag(),
      pendingEngineAcks: this.engine.pipeline.inFlight,
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    clearInterval(this.deathWatch);
    this.liveness.stop();
    this.link.stop();
    this.routes.stop();
    this.retainedStop?.();
  }
}

export { keyHash };
