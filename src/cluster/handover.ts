/**
 * Client ids across nodes: a CONNECT claims its id (the old owner releases the session, or the
 * dead owner is adopted first), and this node releases sessions other nodes' CONNECTs claim.
 * While a claim may be loading a session from another node, the inbox waits (InboxGate): what
 * the old node sends on for the session must find it here.
 */
import type { Msg } from './engine.js';
import { decodeJson, encodeJson } from './codec.js';
import { NODE_LEASE_MS } from './engine.js';
import type { Adopter } from './adoption.js';
import type { Handoffs } from './handoff.js';
import { sleep, type NodeParts } from './node-parts.js';

/** What a claiming node asks the old owner (`release` subject). */
export interface ReleaseRequest {
  clientId: string;
  /** The claiming node: deliveries for the session follow it there. */
  node?: string;
  isCleanStart?: boolean;
}

export class Handover {
  /** Every claim under way here, by client id (NodeParts.claims has the newest only). */
  private readonly claimsUnderWay = new Map<string, Set<Promise<boolean>>>();

  constructor(
    private readonly parts: NodeParts,
    private readonly adopter: Adopter,
    private readonly handoffs: Handoffs,
  ) {}

  async claim(clientId: string, isCleanStart: boolean): Promise<boolean> {
    const { claims, restoring } = this.parts;
    // Until the session is restored here, what this node publishes for it goes only to its old
    // node: named there (Delivery.claiming), it follows the session here however late the old
    // node reads it (its own route view may show this node's routes long before).
    if (!isCleanStart) restoring.add(clientId);
    const claim = this.claimOnce(clientId, isCleanStart);
    claims.set(clientId, claim);
    // A client reconnecting while its first claim waits (for an adoption, say) claims again, so
    // one id can have several claims under way here: a release request waits for all of them
    // (waiting for the newest only, an older one restored the session after it had gone to
    // another node — a second copy here, taking deliveries of a session owned elsewhere).
    let all = this.claimsUnderWay.get(clientId);
    if (!all) this.claimsUnderWay.set(clientId, (all = new Set()));
    all.add(claim);
    try {
      return await claim;
    } finally {
      all.delete(claim);
      if (all.size === 0 && this.claimsUnderWay.get(clientId) === all) {
        this.claimsUnderWay.delete(clientId);
        restoring.delete(clientId);
      }
      if (claims.get(clientId) === claim) claims.delete(clientId);
    }
  }

  private async claimOnce(clientId: string, isCleanStart: boolean): Promise<boolean> {
    const { broker, ownership, liveness, logger, store, nodeId } = this.parts;
    if (!this.parts.isServing()) return false;
    // From the release request until the session is restored here, deliveries the old node
    // sends on for it (its handoff) wait in the inbox. A clean start takes nothing over.
    const holdInbox = (): (() => void) => (isCleanStart ? () => undefined : this.parts.gate.hold());
    let release = holdInbox();
    try {
      let result = await ownership.claim(clientId, isCleanStart);
      logger.debug({ clientId, ...result }, 'cluster: claim');
      // The owner did not answer the release request. Dead, its inbox reaches the session (by its
      // adoption) before the session moves here; alive but reconnecting to another engine server,
      // it answers the next request. Liveness tells the two apart (a lease of silence and no ping).
      const deadline = Date.now() + 3 * NODE_LEASE_MS;
      while (result.deadNode !== undefined && Date.now() < deadline) {
        release(); // the adoption can take seconds: the inbox goes on meanwhile
        if (await liveness.isDead(result.deadNode)) await this.adopter.adopt(result.deadNode);
        else await sleep(500);
        release = holdInbox();
        result = await ownership.claim(clientId, isCleanStart);
      }
      if (!result.isOwner) return false;
      // Back here: a handoff of this session to another node ends (it handed it back).
      this.handoffs.end(clientId, true);
      // This node may be adopting the session from a dead node right now: the client gets it
      // once the dead node's inbox is read into it, not half restored.
      release();
      await this.adopter.settled(clientId);
      release = holdInbox();
      if (result.previousNode !== undefined && result.previousNode !== nodeId) {
        logger.debug({ clientId, from: result.previousNode }, 'cluster: client id moved here');
      }
      if (broker.sessions.get(clientId)) return true;
      if (isCleanStart) {
        // Whatever the engine still holds of an earlier session ends now [3.1.1 MQTT-3.1.2-6] [5.0 MQTT-3.1.2-4].
        broker.committer.add({ type: 'deleteSession', clientId });
        return true;
      }
      const stored = await store.loadStored(clientId);
      // Still this node's? A release request (answered while the read ran) may have sent the
      // session on: restored here now, it would be a second copy beside the new owner's.
      if ((await ownership.ownerOf(clientId)) !== nodeId) {
        logger.debug({ clientId }, 'cluster: claim lost its session to another node while reading it');
        return false;
      }
      if (stored && !broker.sessions.get(clientId)) broker.restoreSession(stored, broker.now());
      return true;
    } finally {
      release();
    }
  }

  /** Another node's CONNECT claims a client id this node may hold: hand the session over. */
  async onReleaseRequest(msg: Msg): Promise<void> {
    const { broker, link, logger } = this.parts;
    let request: ReleaseRequest;
    try {
      request = decodeJson<ReleaseRequest>(msg.data);
      if (typeof request.clientId !== 'string') return;
    } catch {
      return;
    }
    const { clientId } = request;
    try {
      // A CONNECT of this node claiming the same id finishes first (won or lost); the connection
      // taken over below is taken once its CONNACK is out: closed while registered but not yet
      // acknowledged (its CONNACK waits for the commit), its client would get no CONNACK at all
      // (nothing but AUTH before CONNACK [5.0 MQTT-3.2.0-1]).
      const local = [...(this.claimsUnderWay.get(clientId) ?? [])];
      const hasLocalWinner = (await Promise.all(local.map((claim) => claim.catch(() => false)))).some((won) => won);
      const isSettled = (): boolean => {
        const connection = broker.clients.get(clientId);
        if (!connection) return !hasLocalWinner;
        return connection.state === 'connected' || connection.isClosed;
      };
      const deadline = Date.now() + 5000;
      while (!isSettled() && Date.now() < deadline) await sleep(5);
      const connection = broker.clients.get(clientId);
      if (connection) {
        // [3.1.1 MQTT-3.1.4-2] [5.0 MQTT-3.1.4-3] the existing connection is closed (5.0: DISCONNECT 0x8E first).
        connection.isTakenOver = true;
        connection.disconnectWithReason(0x8e, 'session taken over by a connection on another node');
        connection.destroy('session-taken-over');
      }
      // What the inbox still holds for the session is delivered into it before it moves; so is
      // what a dead node's inbox holds, when this node is adopting that node right now.
      await this.adopter.settled(clientId);
      await link.caughtUp(5000);
      await broker.committer.drain();
      const session = broker.sessions.get(clientId);
      if (session && !session.isOnline) {
        // What is published for it from now on, until the claiming node's routes are seen here,
        // follows it there (handoff.ts). A clean start ends the session: nothing follows.
        if (request.node !== undefined && request.isCleanStart !== true) this.handoffs.begin(clientId, request.node, session.subscriptions.keys());
        // Forgotten here, not deleted: the session lives on in the engine for the new node.
        // (Expiry 0 makes discard skip the store delete; its subscriptions leave the routes.)
        session.expiryInterval = 0;
        broker.discardSession(session);
        await broker.committer.drain();
      } else if (!session && request.node !== undefined && this.handoffs.nodeOf(clientId) !== undefined) {
        // Released to one node already, now claimed by another: deliveries follow the newer claim.
        this.handoffs.redirect(clientId, request.node);
      }
      msg.respond(encodeJson({ ok: true }));
    } catch (error) {
      logger.warn({ err: (error as Error).message, clientId }, 'cluster: release failed');
      msg.respond(encodeJson({ ok: false }));
    }
  }

  /** Sessions the engine says this node owns (it restarted): loaded again, routes restored. */
  async adoptOwnSessions(): Promise<void> {
    const { broker, ownership, store, logger, nodeId } = this.parts;
    const owned = await ownership.ownedBy(nodeId);
    let restored = 0;
    for (const clientId of owned) {
      if (broker.sessions.get(clientId)) continue;
      const stored = await store.loadStored(clientId);
      if (stored && stored.session.expiryInterval > 0 && broker.restoreSession(stored, broker.now())) restored++;
    }
    if (restored > 0) logger.info({ sessions: restored }, 'cluster: sessions of this node restored from the engine');
  }
}
