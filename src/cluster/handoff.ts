/**
 * Sessions this node released to another node, followed until that node's routes are seen here.
 *
 * When a session moves from this node (B) to node C, B's route entries for its filters would go
 * at once and C's appear only after C restored the session and its route writes propagated (a
 * few hundred ms, seconds under load). A message published in between — on B, or on a node that
 * still routed it to B — matched nobody and was dropped although acknowledged. So B keeps its
 * route entries (every node keeps sending to B), and sends on to C, for that session only,
 * whatever matches it while B's view does not show C routed for the topic yet. Once it does,
 * publishers reach C directly: the handoff ends and B's entries go (watchers see C's entry
 * before B's delete, so no node is ever without a route to the session).
 */
import type { Logger } from '../observability/index.js';
import type { Message } from '../store/index.js';
import { parseSharedFilter, topicMatchesFilter } from '../topics/index.js';
import type { NodeLink } from './node-link.js';
import type { RouteTable } from './route-table.js';

/** A handoff whose new node never shows its routes (its claim lost, it died) ends anyway. */
const MAX_HANDOFF_MS = 60_000;
/**
 * How long a released session's new node is remembered after its handoff ended: deliveries the
 * claiming node sent here while it claimed (Delivery.claiming) may be read that much later.
 */
const REMEMBER_RELEASED_MS = 5 * 60_000;
const SWEEP_MS = 100;

interface Handoff {
  clientId: string;
  node: string;
  /** The session's plain filters (shared groups have other members to take their messages). */
  filters: string[];
  since: number;
  forwarded: number;
}

export class Handoffs {
  private readonly byClient = new Map<string, Handoff>();
  /** Released sessions whose handoff ended: their new node, and when (REMEMBER_RELEASED_MS). */
  private readonly ended = new Map<string, { node: string; at: number }>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly routes: RouteTable,
    private readonly link: NodeLink,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.byClient.size;
  }

  /** Called before the session is discarded here: its filters stay routed to this node meanwhile. */
  begin(clientId: string, node: string, filters: Iterable<string>): void {
    this.end(clientId);
    const plain = [...filters].filter((filter) => !parseSharedFilter(filter));
    for (const filter of plain) this.routes.filterAdded(filter);
    this.ended.delete(clientId);
    this.byClient.set(clientId, { clientId, node, filters: plain, since: Date.now(), forwarded: 0 });
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS);
  }

  /** The node a released session went to, while it is followed. */
  nodeOf(clientId: string): string | undefined {
    return this.byClient.get(clientId)?.node;
  }

  /** The node a session released from here went to, while followed or remembered after. */
  releasedTo(clientId: string): string | undefined {
    return this.byClient.get(clientId)?.node ?? this.ended.get(clientId)?.node;
  }

  /** Another node claimed the released session after the first one: follow it there. */
  redirect(clientId: string, node: string): void {
    const handoff = this.byClient.get(clientId);
    if (handoff) handoff.node = node;
  }

  /**
   * Sends `message` on to the released sessions it matches, unless their new node is among
   * `routedNodes` (this node's routes already take it there: its router delivers to the session).
   */
  follow(message: Message, publisherId: string | undefined, routedNodes: ReadonlySet<string>, sentAlready?: ReadonlySet<string>): void {
    for (const handoff of this.byClient.values()) {
      if (routedNodes.has(handoff.node) || sentAlready?.has(handoff.clientId)) continue;
      if (!handoff.filters.some((filter) => topicMatchesFilter(message.topic, filter))) continue;
      this.link.send(handoff.node, publisherId === undefined ? { message, targetClientId: handoff.clientId } : { message, publisherId, targetClientId: handoff.clientId });
      handoff.forwarded++;
    }
  }

  /**
   * Ends the handoff: this node's held route entries go (unless local subscribers keep them).
   * `isBackHere`: the session came back to this node; its last node is not remembered.
   */
  end(clientId: string, isBackHere = false): void {
    if (isBackHere) this.ended.delete(clientId);
    const handoff = this.byClient.get(clientId);
    if (!handoff) return;
    this.byClient.delete(clientId);
    this.ended.delete(clientId);
    if (!isBackHere) this.ended.set(clientId, { node: handoff.node, at: Date.now() });
    for (const filter of handoff.filters) this.routes.filterRemoved(filter);
    this.logger.debug({ clientId, node: handoff.node, forwarded: handoff.forwarded, ms: Date.now() - handoff.since }, 'cluster: handoff ended');
    if (this.byClient.size === 0 && this.ended.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const [clientId, { at }] of this.ended) {
      if (now - at < REMEMBER_RELEASED_MS) break; // in the order they ended
      this.ended.delete(clientId);
    }
    if (this.byClient.size === 0 && this.ended.size === 0) return this.stop();
    for (const handoff of [...this.byClient.values()]) {
      const isRouted = handoff.filters.every((filter) => this.routes.hasRoute(handoff.node, filter));
      if (isRouted || now - handoff.since > MAX_HANDOFF_MS) {
        if (!isRouted) this.logger.warn({ clientId: handoff.clientId, node: handoff.node }, 'cluster: a released session\'s new node never showed its routes; handoff ended');
        this.end(handoff.clientId);
      }
    }
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
