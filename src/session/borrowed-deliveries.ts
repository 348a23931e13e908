/**
 * Deliveries a session makes on behalf of an owner that keeps their durable copy (a durable queue
 * hands its messages to a consumer's session so): which owner each one belongs to, and telling
 * that owner how each ended — acknowledged, dropped, or given back unfinished. The session never
 * stores such a delivery (the journal excludes it).
 */
import type { OutgoingRecord } from '../store/index.js';
import type { DeliveryQueue } from './delivery-queue.js';
import type { InflightWindow } from './inflight-window.js';

/**
 * Who keeps the durable copy of a delivery a session makes on its behalf: the session tells it
 * how the delivery ended, or gives it back.
 */
export interface DeliveryOwner {
  /** The client acknowledged it (`acknowledged`), or it cannot be made at all (`dropped`: it expired). */
  settled(record: OutgoingRecord, outcome: 'acknowledged' | 'dropped'): void;
  /** The client will not finish it (it left, unsubscribed, its queue had no room, it is too large for it or the ACL refuses it): the owner delivers it again. */
  returned(record: OutgoingRecord): void;
}

export class BorrowedDeliveries {
  /** Made on first use: only a durable queue's consumers borrow. */
  private owners: Map<OutgoingRecord, DeliveryOwner> | undefined;

  lend(record: OutgoingRecord, owner: DeliveryOwner): void {
    (this.owners ??= new Map()).set(record, owner);
  }

  has(record: OutgoingRecord): boolean {
    return this.owners?.has(record) === true;
  }

  /** Lets go of a delivery without telling its owner (it was never taken: the queue refused it). */
  release(record: OutgoingRecord): void {
    this.owners?.delete(record);
  }

  /** A borrowed delivery ended here: its owner hears how. Returns whether it was borrowed. */
  settle(record: OutgoingRecord, outcome: 'acknowledged' | 'dropped' | 'returned'): boolean {
    const owner = this.owners?.get(record);
    if (!owner) return false;
    this.owners!.delete(record);
    if (outcome === 'returned') owner.returned(record);
    else owner.settled(record, outcome);
    return true;
  }

  /**
   * Takes every delivery made for `owner` (all owners when absent) out of flight and out of the
   * queue, and gives each back to its owner, unfinished, in `seq` order.
   */
  returnAll(owner: DeliveryOwner | undefined, inflight: InflightWindow, queue: DeliveryQueue): void {
    const owners = this.owners;
    if (!owners || owners.size === 0) return;
    const isTaken = (record: OutgoingRecord): boolean => {
      const recordOwner = owners.get(record);
      return recordOwner !== undefined && (owner === undefined || recordOwner === owner);
    };
    const taken: OutgoingRecord[] = [];
    for (const record of [...inflight.values()]) {
      if (isTaken(record)) {
        inflight.delete(record.packetId!);
        taken.push(record);
      }
    }
    taken.push(...queue.removeWhere(isTaken));
    taken.sort((a, b) => a.seq - b.seq);
    for (const record of taken) this.settle(record, 'returned');
  }
}
