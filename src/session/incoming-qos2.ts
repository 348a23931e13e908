/**
 * The QoS 2 packet ids a client has sent us, PUBRECed and not yet released with PUBREL
 * [3.1.1 MQTT-4.3.3-2]: a PUBLISH with such an id is a resend, not a new message. Each change is
 * written through `persist` (the session's journal, which writes only for a persistent session).
 */
import type { StoreOp } from '../store/index.js';

export class IncomingQos2Ids {
  /** Made on first use: most sessions never receive QoS 2. */
  private ids: Set<number> | undefined;

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

  /** A QoS 2 PUBLISH was routed: its id is remembered (and stored) until PUBREL. */
  remember(packetId: number): void {
    (this.ids ??= new Set()).add(packetId);
    this.persist({ type: 'putIncomingQos2', clientId: this.clientId, packetId });
  }

  /** PUBREL: the id may be used for a new message again. Returns whether it was known. */
  release(packetId: number): boolean {
    const isKnown = this.ids?.delete(packetId) === true;
    if (isKnown) this.persist({ type: 'deleteIncomingQos2', clientId: this.clientId, packetId });
    return isKnown;
  }

  /** The ids read from the store (before the client goes online); nothing is written. */
  restore(packetIds: readonly number[]): void {
    if (packetIds.length === 0) return;
    const ids = (this.ids ??= new Set());
    for (const packetId of packetIds) ids.add(packetId);
  }

  clear(): void {
    this.ids = undefined;
  }
}
