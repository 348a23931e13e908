/**
 * The QoS 2 packet ids a client has sent us, PUBRECed and not yet released with PUBREL
 * [3.1.1 MQTT-4.3.3-2]: a PUBLISH with such an id is a resend, not a new message. Each change is
 * written through `persist` (the session's journal, which writes only for a persistent session).
 *
 * In cluster mode an id also carries the message's routing id (stored with it, before the
 * message is routed). An id read back from the store with a routing id may belong to a message
 * whose routing never finished (its node died before PUBREC): a resend of it is routed again
 * under the same id, which makes no second copy of what the first routing stored.
 */
import type { StoreOp } from '../store/index.js';

export class IncomingQos2Ids {
  /** Packet id → routing id (cluster mode) or undefined. Made on first use: most sessions never receive QoS 2. */
  private ids: Map<number, string | undefined> | undefined;
  /** Ids whose resend must be routed again under their routing id (read from the store, or a failed commit). */
  private toReroute: Set<number> | undefined;

  constructor(
    private readonly clientId: string,
    private readonly persist: (op: StoreOp) => void,
  ) {}

  has(packetId: number): boolean {
    return this.ids?.has(packetId) === true;
  }

  get size(): number {
    return this.ids?.size ?? 0;
  }

  /** A QoS 2 PUBLISH was (or, with a routing id, is about to be) routed: its id is remembered (and stored) until PUBREL. */
  remember(packetId: number, routingId?: string): void {
    (this.ids ??= new Map()).set(packetId, routingId);
    this.toReroute?.delete(packetId);
    this.persist(routingId === undefined ? { type: 'putIncomingQos2', clientId: this.clientId, packetId } : { type: 'putIncomingQos2', clientId: this.clientId, packetId, routingId });
  }

  /** The routing of this id's message may not have happened (its record's commit failed): a resend routes it again. */
  markForReroute(packetId: number): void {
    if (this.ids?.get(packetId) !== undefined) (this.toReroute ??= new Set()).add(packetId);
  }

  /** The routing id a resend of this packet id must be routed again under (once), or undefined when it was routed here. */
  takeReroute(packetId: number): string | undefined {
    if (this.toReroute?.delete(packetId) !== true) return undefined;
    return this.ids?.get(packetId);
  }

  /** PUBREL: the id may be used for a new message again. Returns whether it was known. */
  release(packetId: number): boolean {
    const isKnown = this.ids?.delete(packetId) === true;
    this.toReroute?.delete(packetId);
    if (isKnown) this.persist({ type: 'deleteIncomingQos2', clientId: this.clientId, packetId });
    return isKnown;
  }

  /** The ids read from the store (before the client goes online); nothing is written. */
  restore(packetIds: readonly number[], routingIds?: ReadonlyMap<number, string>): void {
    if (packetIds.length === 0) return;
    const ids = (this.ids ??= new Map());
    for (const packetId of packetIds) {
      const routingId = routingIds?.get(packetId);
      ids.set(packetId, routingId);
      if (routingId !== undefined) (this.toReroute ??= new Set()).add(packetId);
    }
  }

  clear(): void {
    this.ids = undefined;
    this.toReroute = undefined;
  }
}
