/**
 * The sending side of a session: moves deliveries from the queue into flight while the window and
 * the socket allow (and places those read back after a restart), chooses each one's packet id, and holds back what may only leave once its
 * record is committed — a QoS 2 PUBLISH to a persistent session (a restart must resend it under
 * the same id, so the receiver recognises the duplicate) and a PUBREL (a restart must not resend
 * the PUBLISH of a message the client was told to release).
 */
import type { CommitLog, OutgoingRecord } from '../store/index.js';
import type { DeliveryJournal } from './delivery-journal.js';
import type { DeliveryQueue } from './delivery-queue.js';
import type { InflightWindow } from './inflight-window.js';
import type { SessionLink } from './types.js';

/** What the sender reads of its session at each call (the link changes with every connection). */
export interface SenderHost {
  readonly link: SessionLink | undefined;
  /** Changes whenever a connection attaches, so late callbacks can tell they are stale. */
  readonly linkEpoch: number;
  readonly isPersistent: boolean;
  now(): number;
  /** A queued delivery expired before it could be sent (counted; a borrowed one goes back to its owner). */
  expired(record: OutgoingRecord): void;
}

export class DeliverySender {
  /** QoS 2 deliveries put in flight whose 'sent' record is not yet known to be committed. */
  private qos2AwaitingCommit: OutgoingRecord[] = [];
  /** Of those, the ones sent before a restart (they go out with DUP). */
  private qos2Redeliveries: WeakSet<OutgoingRecord> | undefined;

  constructor(
    private readonly host: SenderHost,
    private readonly queue: DeliveryQueue,
    private readonly inflight: InflightWindow,
    private readonly journal: DeliveryJournal,
    private readonly commitLog: CommitLog,
  ) {}

  /** The live path: a QoS 1/2 delivery straight into flight, no queue round trip. */
  sendNow(link: SessionLink, record: OutgoingRecord): void {
    if (this.sendFromQueue(link, record, false)) this.sendQos2AfterCommit();
  }

  /**
   * Moves queued deliveries into flight while the window and the socket allow. QoS 2 deliveries
   * to a persistent session are sent only after their packet id is committed, so a restart
   * resends them under the same id and the receiver recognises the duplicate.
   */
  pump(): void {
    const link = this.host.link;
    if (!link) return;
    let now: number | undefined;
    let wasQos2Deferred = false;
    while (link.isWritable) {
      const next = this.queue.peek();
      if (!next) break;
      if (next.qos > 0 && this.inflight.isFull) break;
      this.queue.shift();
      if (next.message.expiresAt !== undefined && next.message.expiresAt <= (now ??= this.host.now())) {
        this.journal.forget(next);
        this.host.expired(next);
        continue;
      }
      if (next.qos === 0) {
        link.sendPublish(next, false);
        continue;
      }
      if (this.sendFromQueue(link, next, true)) wasQos2Deferred = true;
    }
    if (wasQos2Deferred) this.sendQos2AfterCommit();
  }

  /**
   * Places deliveries read back from the store after a restart; returns the `seq` new ones
   * continue from.
   */
  restore(records: readonly OutgoingRecord[]): number {
    let nextSeq = 1;
    for (const record of records) {
      nextSeq = Math.max(nextSeq, record.seq + 1);
      if (record.state === 'pubrec' && record.packetId !== undefined) {
        // Released already: only its PUBREL is owed, sent again on attach.
        this.inflight.add(record);
      } else {
        // Everything else goes out again in `seq` order, under its stored packet id
        // [3.1.1 MQTT-4.4.0-1]; 'sent' ones with DUP. Not split into "in flight first": a delivery
        // sent from the queue still says 'queued' on disk (its sent state is written at
        // disconnect), so after a crash an older one can read 'queued' while a newer one reads
        // 'sent' — resending the 'sent' ones first would reorder them.
        this.queue.push(record);
      }
    }
    return nextSeq;
  }

  /**
   * PUBREC received and its record written: the PUBREL goes out once that record is on disk, if
   * the delivery is still in flight on the same connection then.
   */
  sendPubrelOnceCommitted(record: OutgoingRecord): void {
    const packetId = record.packetId!;
    const epoch = this.host.linkEpoch;
    this.commitLog.afterCommit(() => {
      if (epoch === this.host.linkEpoch && this.inflight.get(packetId) === record) this.host.link?.sendPubrel(packetId);
    });
  }

  /**
   * Puts a QoS 1/2 delivery in flight and sends it, or — QoS 2 to a persistent session — marks it
   * to be sent once its 'sent' record commits. Returns whether it was deferred so.
   */
  private sendFromQueue(link: SessionLink, record: OutgoingRecord, wasQueued: boolean): boolean {
    // A queued delivery was stored with its packet id; it keeps it unless that id is in use
    // (the id counter wrapped while an old delivery stayed unacknowledged).
    const hasStoredId = wasQueued && record.packetId !== undefined && !this.inflight.has(record.packetId);
    // Read back from the store as sent before a restart: this is a redelivery [3.1.1 MQTT-3.3.1-1].
    const isDuplicate = hasStoredId && record.state === 'sent';
    if (!hasStoredId) record.packetId = this.inflight.nextPacketId();
    record.state = 'sent';
    this.inflight.add(record);
    if (!this.host.isPersistent) {
      link.sendPublish(record, isDuplicate);
      return false;
    }
    if (record.qos === 1) {
      // QoS 1 goes out at once: if the broker dies before its record commits, the publisher was
      // not acknowledged either and resends — a duplicate, which QoS 1 allows. With its stored id
      // the record on disk already says all a restart needs.
      if (hasStoredId) this.journal.deferSentState(record);
      else this.journal.write(record);
      link.sendPublish(record, isDuplicate);
      return false;
    }
    // QoS 2 must wait: its packet id and 'sent' state have to be on disk before the client sees it.
    this.journal.write(record);
    this.qos2AwaitingCommit.push(record);
    if (isDuplicate) (this.qos2Redeliveries ??= new WeakSet()).add(record);
    return true;
  }

  private sendQos2AfterCommit(): void {
    const records = this.qos2AwaitingCommit;
    this.qos2AwaitingCommit = [];
    const epoch = this.host.linkEpoch;
    this.commitLog.afterCommit(() => {
      // A reconnect in between has already resent everything in flight.
      const link = this.host.link;
      if (epoch !== this.host.linkEpoch || !link) return;
      for (const record of records) {
        if (this.inflight.get(record.packetId!) === record && record.state === 'sent') link.sendPublish(record, this.qos2Redeliveries?.has(record) === true);
      }
    });
  }
}
