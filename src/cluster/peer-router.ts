/**
 * Routing between nodes (the router's PeerRouting): a publish goes to the nodes whose route
 * entries match it, one node per shared group in turn; a delivery another node sent here goes to
 * this node's subscribers and the groups it was picked for. Sessions released to another node
 * are followed (Handoffs) until the publishers reach them there.
 */
import type { PeerRouting } from '../broker/index.js';
import type { Message } from '../store/index.js';
import { parseSharedFilter, topicMatchesFilter } from '../topics/index.js';
import type { Delivery } from './codec.js';
import type { Handoffs } from './handoff.js';
import type { NodeParts } from './node-parts.js';

/** Payload bytes a message may have to go to another node (engine max_payload 1 MiB, minus headroom). */
const MAX_FORWARD_PAYLOAD = 900 * 1024;
/** A delivery following a session is sent on at most this often (views of where it is can lag). */
const MAX_TARGETED_HOPS = 8;

export class PeerRouter implements PeerRouting {
  private oversizeRefused = 0;
  /** Targeted deliveries whose session is neither here nor followed elsewhere (logged). */
  strayTargeted = 0;
  /** Targeted deliveries that arrived while a claim here was restoring their session (they waited for it). */
  waitingForClaims = 0;
  /** QoS 2 resends routed again under their routing id (their first node died before PUBREC). */
  rerouted = 0;
  /** Round-robin position per shared group, for picking the node of a group delivery. */
  private readonly groupTurn = new Map<string, number>();
  /** Shared groups another node was picked for during the current route() call. */
  private readonly skipGroups = new Set<string>();
  /** The shared groups a delivery from another node asks this node to serve (while it is routed). */
  private peerGroups: ReadonlySet<string> | undefined;

  constructor(
    private readonly parts: NodeParts,
    private readonly handoffs: Handoffs,
  ) {}

  forward(message: Message, publisherId: string | undefined): number {
    return this.send(message, publisherId, false);
  }

  /**
   * A QoS 2 message routed again under its routing id: to this node's inbox too (its local
   * subscribers are not served directly), every inbox message under an id derived from the
   * routing id and its node, so the engine drops what the first routing stored already.
   */
  reroute(message: Message, publisherId: string | undefined): number {
    this.rerouted++;
    return this.send(message, publisherId, true);
  }

  private send(message: Message, publisherId: string | undefined, isRerouting: boolean): number {
    const { routes, broker, nodeId, link, logger } = this.parts;
    this.skipGroups.clear();
    const match = routes.match(message.topic);
    const perNode = new Map<string, Delivery>();
    // One inbox message per node under a derived id (NodeLink), for a QoS 2 publication.
    const routingId = message.qos === 2 ? message.routingId : undefined;
    const deliveryFor = (node: string): Delivery => {
      let delivery = perNode.get(node);
      if (!delivery) {
        delivery = publisherId === undefined ? { message } : { message, publisherId };
        if (routingId !== undefined) delivery.dedupId = `${routingId}.${node}`;
        // Sessions being claimed here do not get it from this node yet: named, their old node sends it on.
        if (this.parts.restoring.size > 0) delivery.claiming = [...this.parts.restoring];
        perNode.set(node, delivery);
      }
      return delivery;
    };
    if (isRerouting) deliveryFor(nodeId);
    for (const node of match.nodes) deliveryFor(node);
    for (const [groupKey, nodes] of match.groups) {
      // One node of the group takes the message, in turn; that node's router picks the member.
      const turn = this.groupTurn.get(groupKey) ?? 0;
      this.groupTurn.set(groupKey, turn + 1);
      const sorted = [...new Set(nodes)].sort();
      let node = sorted[turn % sorted.length]!;
      let isDeclinedHere = false;
      if (node === nodeId && sorted.length > 1 && !broker.router.hasOnlineSharedMember(groupKey)) {
        // Only offline members here (e.g. sessions adopted from a dead node): another node's
        // member may be online, so the message goes there rather than into an offline queue.
        node = sorted[(sorted.indexOf(node) + 1) % sorted.length]!;
        isDeclinedHere = true;
      }
      if (node === nodeId && !isRerouting) continue;
      const delivery = deliveryFor(node);
      (delivery.groups ??= []).push(groupKey);
      if (isDeclinedHere) delivery.declinedBy = [nodeId];
      if (node !== nodeId) this.skipGroups.add(groupKey);
    }
    const isFollowed = this.handoffs.size > 0;
    if ((perNode.size > 0 || isFollowed) && message.payload.length > MAX_FORWARD_PAYLOAD) {
      // The engine's max_payload (1 MiB) bounds what can cross nodes: refused, never retried forever.
      this.oversizeRefused++;
      if (this.oversizeRefused % 100 === 1) logger.warn({ topic: message.topic, bytes: message.payload.length }, 'cluster: message too large to cross nodes; delivered on this node only');
      return 0;
    }
    let count = 0;
    for (const [node, delivery] of perNode) {
      link.send(node, delivery);
      count++;
    }
    if (isFollowed) this.handoffs.follow(message, publisherId, match.nodes);
    return count;
  }

  filterAdded(filter: string): void {
    this.parts.routes.filterAdded(filter);
  }

  filterRemoved(filter: string): void {
    this.parts.routes.filterRemoved(filter);
  }

  isSharedHere(groupKey: string): boolean {
    return this.peerGroups ? this.peerGroups.has(groupKey) : !this.skipGroups.has(groupKey);
  }

  /**
   * A delivery another node sent here: this node's subscribers only, and the groups it was picked
   * for. Returns a promise when the delivery has to go on to a node not known yet: the inbox
   * batch is acknowledged only after that send.
   */
  deliverHere(delivery: Delivery): Promise<void> | undefined {
    if (delivery.targetClientId !== undefined) return this.deliverTargeted(delivery, delivery.targetClientId);
    const groups = new Set(delivery.groups ?? []);
    if (groups.size > 0) this.passOnGroups(delivery, groups);
    this.peerGroups = groups;
    try {
      this.parts.broker.router.routeLocal(delivery.message, delivery.publisherId);
    } finally {
      this.peerGroups = undefined;
    }
    const followed = delivery.claiming ? this.followClaimed(delivery, delivery.claiming) : undefined;
    // The sender still routed it here for a session that moved on: it follows the session.
    if (this.handoffs.size > 0) this.handoffs.follow(delivery.message, delivery.publisherId, this.parts.routes.match(delivery.message.topic).nodes, followed);
    return undefined;
  }

  /**
   * A delivery its sender routed while claiming these sessions (from this node, maybe): the
   * sender could not deliver it to them. One this node released goes on to where it went, even
   * if this node's view shows that node's routes already (they appear once the session is
   * restored there, and this inbox can be read seconds later: dropped, these were acknowledged
   * messages lost at a move). Returns the sessions it was sent on for.
   */
  private followClaimed(delivery: Delivery, clientIds: readonly string[]): Set<string> | undefined {
    let followed: Set<string> | undefined;
    for (const clientId of clientIds) {
      if (this.parts.broker.sessions.get(clientId)) continue; // still here: delivered above
      const node = this.handoffs.releasedTo(clientId);
      if (node === undefined || node === this.parts.nodeId) continue;
      const onward: Delivery = { message: delivery.message, targetClientId: clientId };
      if (delivery.publisherId !== undefined) onward.publisherId = delivery.publisherId;
      this.parts.link.send(node, onward);
      (followed ??= new Set()).add(clientId);
    }
    return followed;
  }

  /** A delivery for one session that moved here from the sending node (its handoff). */
  private deliverTargeted(delivery: Delivery, clientId: string): Promise<void> | undefined {
    const { broker, link, ownership, nodeId, claims } = this.parts;
    if (broker.sessions.get(clientId)) {
      this.deliverToSessions(delivery, new Set([clientId]));
      return undefined;
    }
    const claim = claims.get(clientId);
    if (claim) {
      // A CONNECT here is claiming the session: the old node released it (and sends on what
      // still reaches it) before this node restored it. Dropped now, these were acknowledged
      // messages lost (one publisher window at a move); they wait for the claim instead, and so
      // does their inbox batch's ack.
      // The gate is held meanwhile: later batches (which the claim's own end of its hold would
      // apply at once) come after these, so the session gets its messages in order.
      this.waitingForClaims++;
      const releaseGate = this.parts.gate.hold();
      const retry = (): Promise<void> | undefined => {
        try {
          return this.deliverTargeted(delivery, clientId);
        } finally {
          releaseGate();
        }
      };
      return claim.then(retry, retry);
    }
    const hops = (delivery.hops ?? 0) + 1;
    if (hops > MAX_TARGETED_HOPS) {
      this.noteStray(clientId, undefined);
      return undefined;
    }
    const onward: Delivery = { ...delivery, hops };
    const next = this.handoffs.nodeOf(clientId);
    if (next !== undefined) {
      link.send(next, onward);
      return undefined;
    }
    // The session moved on again and its handoff from here has ended already (or it went back
    // to the sender): it follows the owner record.
    return ownership.ownerOf(clientId).then(
      (owner) => {
        if (owner !== undefined && owner !== nodeId) return link.send(owner, onward);
        this.noteStray(clientId, owner);
      },
      (error: Error) => {
        // Not acknowledged: the inbox batch comes again.
        throw error;
      },
    );
  }

  private noteStray(clientId: string, owner: string | undefined): void {
    this.strayTargeted++;
    if (this.strayTargeted % 100 === 1) this.parts.logger.warn({ clientId, owner }, 'cluster: a delivery followed a session that is nowhere (dropped)');
  }

  /** A delivery to the given sessions whose subscriptions match (adoption drains, handoffs). */
  deliverToSessions(delivery: Delivery, clientIds: ReadonlySet<string>): void {
    const { message, publisherId } = delivery;
    const groupsServed = new Set<string>();
    for (const clientId of clientIds) {
      const session = this.parts.broker.sessions.get(clientId);
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

  /**
   * The groups of a delivery that have no member online here go on to another node of the group
   * that has not passed them on yet (design: "if it has none left, it sends the delivery on");
   * with none left, they stay here (an offline member holds the message for the group).
   * Called while the delivery's batch is handled: the inbox ack waits for the onward send.
   */
  private passOnGroups(delivery: Delivery, groups: Set<string>): void {
    const { broker, routes, nodeId, link } = this.parts;
    const declined = [...(delivery.declinedBy ?? []), nodeId];
    const onward = new Map<string, string[]>();
    for (const groupKey of groups) {
      if (broker.router.hasOnlineSharedMember(groupKey)) continue;
      const next = routes.nodesOfGroup(groupKey).find((n) => !declined.includes(n));
      if (next === undefined) continue;
      groups.delete(groupKey);
      const list = onward.get(next);
      if (list) list.push(groupKey);
      else onward.set(next, [groupKey]);
    }
    for (const [node, groupKeys] of onward) {
      const next: Delivery = { message: delivery.message, groups: groupKeys, declinedBy: declined };
      if (delivery.publisherId !== undefined) next.publisherId = delivery.publisherId;
      link.send(node, next);
    }
  }
}
