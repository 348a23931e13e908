/**
 * The cluster service: makes this broker one node of several on the engine. It wires the parts
 * (route table, node link, ownership, liveness) to the services that use them — routing between
 * nodes (peer-router.ts), adoption of dead nodes (adoption.ts), claims and releases of client ids
 * (handover.ts), the retained view — beats into midge_nodes, and fences the node when another
 * adopted it. The broker consults it through ClusterHooks (CONNECT) and the router's PeerRouting.
 */
import { Counter, Gauge } from 'prom-client';
import type { Broker, ClusterHooks } from '../broker/index.js';
import type { Logger } from '../observability/index.js';
import { Adopter } from './adoption.js';
import { decodeJson, encodeJson } from './codec.js';
import { adoptedKey, BUCKETS, keyHash, NODE_LEASE_MS, releaseSubject, type Engine, type KvEntry } from './engine.js';
import { Handoffs } from './handoff.js';
import { Handover } from './handover.js';
import { InboxGate } from './inbox-gate.js';
import { InboxProgress } from './inbox-progress.js';
import { Liveness } from './liveness.js';
import { NodeLink } from './node-link.js';
import type { NodeParts } from './node-parts.js';
import { Ownership } from './ownership.js';
import { PeerRouter } from './peer-router.js';
import { RetainedView } from './retained-view.js';
import { RouteTable } from './route-table.js';
import type { ClusterStore } from './session-store.js';

interface Heartbeat {
  node: string;
  boot: number;
  at: number;
}

export class ClusterService implements ClusterHooks {
  readonly nodeId: string;
  private readonly routes: RouteTable;
  private readonly link: NodeLink;
  private readonly logger: Logger;
  private readonly liveness: Liveness;
  private readonly retained: RetainedView;
  private readonly handoffs: Handoffs;
  private readonly peerRouter: PeerRouter;
  private readonly adopter: Adopter;
  private readonly handover: Handover;
  private readonly parts: NodeParts;
  private isStarted = false;
  private isFenced = false;
  /** The lease lapsed (no heartbeat stored for FENCE_AFTER_MS): clients closed until a beat is stored again. */
  private isSuspended = false;
  private leaseWatch: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private deathWatch: NodeJS.Timeout | undefined;
  private readonly bootedAt = Date.now();

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
    this.liveness = new Liveness(engine, this.nodeId, this.bootedAt, this.logger);
    this.retained = new RetainedView(engine, broker, this.logger);
    const parts: NodeParts = (this.parts = {
      nodeId: this.nodeId,
      engine,
      store,
      broker,
      logger: this.logger,
      routes: this.routes,
      link: this.link,
      ownership: new Ownership(engine, this.nodeId),
      liveness: this.liveness,
      isServing: () => this.isStarted && !this.isFenced && !this.isSuspended,
      claims: new Map(),
      restoring: new Set(),
      gate: new InboxGate(),
    });
    this.handoffs = new Handoffs(this.routes, this.link, this.logger);
    this.peerRouter = new PeerRouter(parts, this.handoffs);
    this.adopter = new Adopter(parts, this.peerRouter);
    this.handover = new Handover(parts, this.adopter, this.handoffs);
  }

  get isReady(): boolean {
    return this.isStarted && !this.isFenced && !this.isSuspended && this.engine.isConnected && this.routes.loaded && this.retained.loaded;
  }

  claim(clientId: string, isCleanStart: boolean): Promise<boolean> {
    return this.handover.claim(clientId, isCleanStart);
  }

  async start(): Promise<void> {
    const broker = this.broker;
    broker.router.peers = this.peerRouter;
    broker.committer.addSink(this.routes);
    broker.committer.addSink(this.link);
    // Engine calls at start are retried: a JetStream API timeout while the engine is busy (or
    // electing) must not stop the node.
    const retry = <T>(what: string, fn: () => Promise<T>): Promise<T> => this.engine.retry(what, fn, 30);
    await Promise.all([retry('route view', () => this.routes.start()), retry('retained view', () => this.retained.start())]);
    const gate = this.parts.gate;
    const progress = new InboxProgress();
    await this.link.start({
      onBatch: (deliveries, seq, done) => {
        progress.begin(seq);
        const applied = (): void => {
          const mark = progress.finish(seq);
          if (mark > 0) this.store.noteApplied(this.nodeId, mark);
          broker.committer.afterCommit(done);
        };
        gate.run(() => {
          let onward: Array<Promise<void>> | undefined;
          for (const delivery of deliveries) {
            const sending = this.peerRouter.deliverHere(delivery);
            if (sending) (onward ??= []).push(sending);
          }
          if (!onward) return applied();
          // Deliveries that wait (a claim under way here, or a node looked up first to follow a
          // session to): acked after they are delivered or sent; the applied mark waits too.
          void Promise.all(onward).then(applied, (error: Error) => done(error));
        });
      },
      appliedUpTo: await retry('applied mark', () => this.store.appliedUpTo(this.nodeId)),
      onQos0: (deliveries) =>
        gate.run(() => {
          for (const delivery of deliveries) void this.peerRouter.deliverHere(delivery)?.catch(() => undefined);
        }),
    });
    this.engine.nc.subscribe(releaseSubject(this.nodeId), { callback: (error, msg) => !error && void this.handover.onReleaseRequest(msg) });
    await retry('liveness view', () => this.liveness.start());
    await retry('heartbeat', () => this.beat());
    this.heartbeat = setInterval(() => void this.beat().catch(() => undefined), 1000);
    this.heartbeat.unref();
    this.deathWatch = setInterval(() => void this.adopter.adoptDeadNodes().catch(() => undefined), 1000);
    this.deathWatch.unref();
    this.leaseWatch = setInterval(() => this.checkLease(), 250);
    this.leaseWatch.unref();
    // After a restart of this node: the sessions it owned come back with their subscriptions.
    await retry('own sessions', () => this.handover.adoptOwnSessions());
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
    if (this.isFenced) return;
    this.engine.lease.renew();
    if (this.isSuspended) {
      this.isSuspended = false;
      this.logger.warn({ node: this.nodeId }, 'cluster: heartbeat stored again and not adopted; this node serves clients again');
    }
  }

  /**
   * Self-fencing (cluster-design.md §5, "paused or cut off"): a node that has stored no heartbeat
   * for FENCE_AFTER_MS (4 s, before anyone may adopt it at 6 s) acknowledges nothing more
   * (lease.ts) and takes no new claims until a beat is stored again — unless that beat finds it
   * adopted (fence(): its clients are closed then). Its clients are not closed at 4 s: with the
   * whole engine unreachable every node lapses, and the clients would only be refused elsewhere
   * (README "Cluster": connections stay through an engine outage).
   */
  private checkLease(): void {
    if (!this.isStarted || this.isFenced || this.isSuspended || this.engine.lease.isValid) return;
    this.isSuspended = true;
    this.logger.error({ node: this.nodeId, msSinceLastBeat: this.engine.lease.age }, 'cluster: no heartbeat stored for 4 s; acknowledgements withheld until the engine takes one again');
  }

  private closeClients(): void {
    for (const connection of [...this.broker.clients.values()]) {
      // [5.0] 0x9C Use another server: this node cannot act for the cluster now.
      connection.disconnectWithReason(0x9c, 'this node cannot reach the cluster; connect to another');
      connection.destroy('server-shutdown');
    }
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
    this.engine.lease.revoke();
    this.liveness.stopAnswering();
    this.logger.error('cluster: this node was adopted by another (it was unreachable too long); it stops serving clients');
    this.closeClients();
    this.link.stop();
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
      isSuspended: this.isSuspended,
      isFenced: this.isFenced,
      msSinceLastBeat: this.engine.lease.age,
      engineConnected: this.engine.isConnected,
      nodes: nodes.map((n) => ({ node: n.node, state: now - n.at < NODE_LEASE_MS ? 'up' : 'silent', lastSeenMs: now - n.at })),
      routes: { local: this.routes.localFilterCount, cluster: this.routes.remoteRouteCount },
      forwardedByNode: Object.fromEntries(this.link.forwardedByNode),
      batchesByNode: Object.fromEntries(this.link.batchesByNode),
      receivedFromPeers: this.link.received,
      releasedSessionsFollowed: this.handoffs.size,
      strayTargetedDeliveries: this.peerRouter.strayTargeted,
      targetedWaitedForClaim: this.peerRouter.waitingForClaims,
      qos2Rerouted: this.peerRouter.rerouted,
      engineDuplicatesDropped: this.engine.pipeline.duplicates,
      inboxLag: await this.link.lag(),
      pendingEngineAcks: this.engine.pipeline.inFlight,
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    clearInterval(this.deathWatch);
    clearInterval(this.leaseWatch);
    this.liveness.stop();
    this.link.stop();
    this.handoffs.stop();
    this.routes.stop();
    this.retained.stop();
  }
}

export { keyHash };
