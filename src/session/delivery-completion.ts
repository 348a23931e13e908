/**
 * How a delivery in flight ends: PUBACK ends a QoS 1 one, PUBREC then PUBCOMP a QoS 2 one (its
 * PUBREL sent once "PUBREC received" is on disk), an abandon one that cannot be made to this
 * client, and a move hands shared-group deliveries to another member. Every end frees a window
 * slot, takes the delivery out of the store (or out of the batch it still waits in), and lets the
 * queue move on at once — the refill does not wait for any commit.
 */
import type { QoS } from '../protocol/index.js';
import type { Message, OutgoingRecord } from '../store/index.js';
import type { BorrowedDeliveries } from './borrowed-deliveries.js';
import type { DeliveryJournal } from './delivery-journal.js';
import type { DeliveryQueue } from './delivery-queue.js';
import type { DeliverySender } from './delivery-sender.js';
import type { InflightWindow } from './inflight-window.js';
import type { DropReason, SessionLink } from './types.js';

/** What the completion side reads of its session at each call. */
export interface CompletionHost {
  readonly link: SessionLink | undefined;
  readonly isPersistent: boolean;
  /** A delivery that cannot be made: counted per session and told to the broker. */
  drop(reason: DropReason, message: Message): void;
  /** Moves queued deliveries into the freed window slots. */
  pump(): void;
}

export class DeliveryCompletion {
  constructor(
    private readonly host: CompletionHost,
    private readonly inflight: InflightWindow,
    private readonly queue: DeliveryQueue,
    private readonly journal: DeliveryJournal,
    private readonly sender: DeliverySender,
    private readonly borrowed: BorrowedDeliveries,
  ) {}

  /** The QoS of the delivery in flight under this packet id, if any (to tell a wrong-kind ack). */
  inflightQosOf(packetId: number): QoS | undefined {
    return this.inflight.get(packetId)?.qos;
  }

  /** PUBACK from the client ends a QoS 1 delivery [3.1.1 MQTT-4.3.2-1]. */
  acknowledge(packetId: number): boolean {
    const record = this.inflight.get(packetId);
    if (!record || record.qos !== 1) return false;
    this.complete(record);
    this.borrowed.settle(record, 'acknowledged');
    return true;
  }

  /** PUBREC: the client has the QoS 2 message; we release it with PUBREL [3.1.1 MQTT-4.3.3-1]. */
  received(packetId: number, isFailure: boolean): boolean {
    const record = this.inflight.get(packetId);
    if (!record || record.qos !== 2) return false;
    if (isFailure) {
      // MQTT 5: a PUBREC reason code >= 0x80 ends the flow; the client will not PUBCOMP.
      this.complete(record);
      return true;
    }
    if (record.state === 'pubrec') {
      this.host.link?.sendPubrel(packetId);
      return true;
    }
    record.state = 'pubrec';
    if (!this.host.isPersistent) {
      this.host.link?.sendPubrel(packetId);
      return true;
    }
    // The PUBREL goes out only once "PUBREC received" is on disk: a restart must not resend the
    // PUBLISH of a message the client has already been told to release.
    this.journal.write(record);
    this.sender.sendPubrelOnceCommitted(record);
    return true;
  }

  /** PUBCOMP ends a QoS 2 delivery. */
  completed(packetId: number): boolean {
    const record = this.inflight.get(packetId);
    if (!record || record.qos !== 2 || record.state !== 'pubrec') return false;
    this.complete(record);
    return true;
  }

  /**
   * Removes and returns the deliveries received through the shared groups `canMoveGroup` names
   * that another member may take instead: queued ones, and QoS 1 ones sent but not acked
   * (the client may have them: at-least-once allows the second copy). QoS 2 ones sent stay.
   */
  takeSharedDeliveries(canMoveGroup: (groupKey: string) => boolean): OutgoingRecord[] {
    if (!this.journal.isLoaded) return [];
    const isMovable = (r: OutgoingRecord): boolean => r.shareGroup !== undefined && canMoveGroup(r.shareGroup);
    const taken: OutgoingRecord[] = [];
    for (const record of [...this.inflight.values()]) {
      if (record.qos === 1 && record.state === 'sent' && isMovable(record)) {
        this.inflight.delete(record.packetId!);
        taken.push(record);
      }
    }
    taken.push(...this.queue.removeWhere(isMovable));
    for (const record of taken) this.journal.forget(record);
    taken.sort((a, b) => a.seq - b.seq);
    return taken;
  }

  /** Ends a delivery that cannot be made to this client (e.g. larger than it accepts). */
  abandon(packetId: number): void {
    const record = this.inflight.get(packetId);
    if (!record) return;
    if (this.borrowed.has(record)) {
      // Not this client's (too large for it, or the ACL refuses it): its owner delivers it elsewhere.
      this.complete(record);
      this.borrowed.settle(record, 'returned');
      return;
    }
    this.host.drop('too-large', record.message);
    this.complete(record);
  }

  private complete(record: OutgoingRecord): void {
    this.inflight.delete(record.packetId!);
    // Acknowledged before its record was written: neither the put nor a delete reach the disk.
    this.journal.forget(record);
    this.host.pump();
  }
}
