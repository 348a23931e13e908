/**
 * Adoption of dead nodes: the first surviving node to take a dead node's lock takes over its
 * persistent sessions by owner compare-and-set (their wills are published, their timers run
 * here), reads what its inbox still holds into them, and removes its routes and its consumer.
 */
import type { SubscriptionRecord } from '../store/index.js';
import { parseSharedFilter } from '../topics/index.js';
import { encodeJson } from './codec.js';
import { adoptedKey, BUCKETS } from './engine.js';
import type { InboxHandler } from './node-link.js';
import { sleep, type NodeParts } from './node-parts.js';
import type { PeerRouter } from './peer-router.js';

interface Progress {
  adopted: Set<string>;
  routesLater: Array<{ clientId: string; subscriptions: SubscriptionRecord[] }>;
  chained: Set<string>;
  finished: Promise<void>;
  finish: () => void;
}

export class Adopter {
  private isAdopting = false;
  /** Adoptions under way (kept across a failed attempt, so a retry finishes what the first took over). */
  private readonly adoptions = new Map<string, Progress>();

  constructor(
    private readonly parts: NodeParts,
    private readonly peerRouter: PeerRouter,
  ) {}

  /** Resolves once an adoption that took `clientId`'s session over has read the dead inbox into it. */
  async settled(clientId: string, timeoutMs = 60_000): Promise<void> {
    for (const progress of this.adoptions.values()) {
      // Bounded: a failed adoption finishes only when a retry succeeds.
      if (!progress.adopted.has(clientId)) continue;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([progress.finished, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    }
  }

  /** Nodes with an inbox that are dead (Liveness says when): adopted (one adopter wins the lock). */
  async adoptDeadNodes(): Promise<void> {
    if (!this.parts.isServing() || this.isAdopting) return;
    for (const node of await this.parts.link.inboxNodes()) {
      if (node === this.parts.nodeId) continue;
      if (await this.parts.liveness.isDead(node)) await this.adopt(node);
    }
  }

  /**
   * Adopts a dead node: takes its persistent sessions by owner compare-and-set (their wills are
   * published, their timers run here), reads what its inbox still holds into them, removes its
   * routes and its consumer. Resolves once done, or once another adopter finished.
   */
  async adopt(node: string): Promise<void> {
    const { engine, broker, ownership, store, link, routes, liveness, logger, nodeId } = this.parts;
    const kv = engine.bucket(BUCKETS.nodes);
    const lockKey = `adopt.${node}`;
    // Restarted (or back) since it was found dead: nothing to adopt. Asked before the lock is
    // taken: a live node that sees a lock or an adoption record newer than its boot fences itself.
    if (await liveness.answersPing(node, 1)) return;
    let revision: number;
    try {
      revision = await kv.create(lockKey, encodeJson({ by: nodeId, at: Date.now() }));
    } catch {
      // Someone else adopts it: wait until their lock is gone (it lapses with its lease too).
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const lock = await kv.get(lockKey);
        if (!lock || lock.operation !== 'PUT') return;
        await sleep(100);
      }
      return;
    }
    this.isAdopting = true;
    const renew = setInterval(() => {
      void kv
        .update(lockKey, encodeJson({ by: nodeId, at: Date.now() }), revision)
        .then((r) => (revision = r))
        .catch(() => undefined);
    }, 2000);
    const startedAt = Date.now();
    const pendingChains: string[] = [];
    try {
      // Sessions first, without their routes: what the dead node's inbox holds goes into them
      // before anything published from now on, so each publisher's order is kept.
      let progress = this.adoptions.get(node);
      if (!progress) {
        let finish!: () => void;
        const finished = new Promise<void>((resolve) => (finish = resolve));
        this.adoptions.set(node, (progress = { adopted: new Set(), routesLater: [], chained: new Set(), finished, finish }));
      }
      const { adopted, routesLater } = progress;
      for (const clientId of await ownership.ownedBy(node)) {
        const origins = await ownership.takeFrom(clientId, node);
        if (!origins) continue;
        // From here a CONNECT of the id on this node waits for the adoption (settled()).
        adopted.add(clientId);
        // A dead node this one was itself adopting when it died: finished below.
        for (const origin of origins) if (origin !== node) progress.chained.add(origin);
        if (broker.sessions.get(clientId)) continue;
        const stored = await store.loadStored(clientId);
        if (!stored || stored.session.expiryInterval === 0) continue;
        if (!broker.restoreSession({ ...stored, subscriptions: [] }, broker.now())) continue;
        const session = broker.sessions.get(clientId)!;
        for (const subscription of stored.subscriptions) session.subscriptions.set(subscription.filter, subscription);
        await broker.loadSessionState(session);
        routesLater.push({ clientId, subscriptions: stored.subscriptions });
      }
      // Sessions an adopter of `node` took over and then died with: they came here since.
      for (const clientId of await ownership.adoptedHereFrom(node)) {
        if (broker.sessions.get(clientId)) adopted.add(clientId);
      }
      const appliedUpTo = await store.appliedUpTo(node);
      const handler: InboxHandler = {
        appliedUpTo,
        onBatch: (deliveries, seq, done) => {
          for (const delivery of deliveries) {
            // One that followed a session (a handoff) is for that session only.
            const target = delivery.targetClientId;
            this.peerRouter.deliverToSessions(delivery, target === undefined ? adopted : adopted.has(target) ? new Set([target]) : new Set());
          }
          store.noteApplied(node, seq);
          broker.committer.afterCommit(done);
        },
        onQos0: () => undefined,
      };
      let batches = await link.drain(node, handler, 'what-is-there');
      // Now the sessions route here, and the dead node's routes go; what publishers sent it
      // before they saw that is read in a second pass.
      // The unfinished adoption's node must not be routed to any more either: its inbox is read
      // into these sessions below (by its own adoption), and nothing new should go there.
      for (const origin of progress.chained) routes.removeNode(origin);
      for (const { clientId, subscriptions } of routesLater.splice(0)) {
        if (!broker.sessions.get(clientId)) continue;
        for (const subscription of subscriptions) broker.router.addSubscription(clientId, subscription);
      }
      routes.removeNode(node);
      await broker.committer.drain();
      await sleep(200);
      batches += await link.drain(node, handler, 'to-the-end');
      await broker.committer.drain();
      const movedShared = this.moveSharedDeliveries(adopted, node);
      await broker.committer.drain();
      await link.removeConsumer(node);
      // Read by the dead node if it was only cut off and comes back: it fences itself.
      await engine.retry('adoption record', () => engine.bucket(BUCKETS.sessions).put(adoptedKey(node), encodeJson({ by: nodeId, at: Date.now() })));
      const chained = [...progress.chained];
      this.adoptions.delete(node);
      progress.finish();
      for (const origin of chained) pendingChains.push(origin);
      liveness.forget(node);
      logger.warn(
        { deadNode: node, sessions: adopted.size, inboxBatches: batches, movedShared, ms: Date.now() - startedAt },
        'cluster: adopted a dead node (its sessions and inbox)',
      );
    } catch (error) {
      logger.error({ err: (error as Error).message, deadNode: node }, 'cluster: adoption failed; another node will retry');
    } finally {
      clearInterval(renew);
      this.isAdopting = false;
      await kv.delete(lockKey).catch(() => undefined);
    }
    // What the dead node's own unfinished adoptions left in other dead inboxes reaches the
    // sessions now here (adoptedHereFrom picks them).
    for (const origin of pendingChains) await this.adopt(origin);
  }

  /**
   * After an adoption: what the adopted (offline) sessions hold through shared groups — queued,
   * or sent and never acknowledged at QoS 1 — goes to another member, here if one is online,
   * else on another node of the group [5.0 4.8.2: a message of a shared group is for the group].
   */
  private moveSharedDeliveries(clientIds: ReadonlySet<string>, deadNode: string): number {
    const { broker, routes, link, nodeId } = this.parts;
    const router = broker.router;
    let moved = 0;
    for (const clientId of clientIds) {
      const session = broker.sessions.get(clientId);
      if (!session || session.isOnline) continue;
      for (const filter of session.subscriptions.keys()) {
        const shared = parseSharedFilter(filter);
        if (!shared) continue;
        const groupKey = `${shared.group}/${shared.filter}`;
        if (router.hasOnlineSharedMember(groupKey, clientId)) {
          moved += router.redistributeShared(session, groupKey);
          continue;
        }
        const node = routes.nodesOfGroup(groupKey).find((n) => n !== deadNode);
        if (node === undefined) continue;
        for (const record of session.takeSharedDeliveries((key) => key === groupKey)) {
          link.send(node, { message: record.message, groups: [groupKey], declinedBy: [nodeId] });
          moved++;
        }
      }
    }
    return moved;
  }
}
