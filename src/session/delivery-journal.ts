/**
 * Everything a session tells the store about its deliveries: the puts and deletes of outgoing
 * records through the commit log, the retraction of a put that is still waiting in the batch when
 * its delivery ends (neither the put nor a delete need reach the disk), and the lazy load of a
 * session recovered after a restart, whose deliveries stay on disk until its client returns.
 */
import type { CommitLog, OutgoingRecord, OutgoingSpan, StoreOp } from '../store/index.js';

type LoadState = 'loaded' | 'unloaded' | 'loading';

/**
 * What the journal notes on each delivery it writes. Fields on the record rather than weak
 * tables beside it: the WeakMap/WeakSet look-ups were ~15% of the broker's CPU in a queue drain
 * (one put, one sent-state mark and one forget per message), and they made every GC walk them.
 * Never copied into a put: `snapshot` copies the record's own fields only.
 */
interface JournalNotes {
  /** The latest put of this delivery, while it may still wait in the open batch. */
  journalPut?: StoreOp | undefined;
  /** The commit log's `openBatch` when `journalPut` was added. */
  journalPutBatch?: number;
  /** A put of it may be on disk (written earlier, or read back from the store): ending it needs a delete. */
  journalStored?: boolean;
  /** QoS 1, sent from the queue under its stored id: the record on disk still says 'queued'. */
  journalSentUnwritten?: boolean;
  /** Made on behalf of an owner that keeps the durable copy (a durable queue): never written. */
  journalExcluded?: boolean;
}
type Noted = OutgoingRecord & JournalNotes;

/** The record as it is now, for a put (later changes to the delivery must not reach a waiting put). */
function snapshot(record: OutgoingRecord): OutgoingRecord {
  const copy: OutgoingRecord = { seq: record.seq, message: record.message, qos: record.qos, retain: record.retain, state: record.state };
  if (record.subscriptionIds !== undefined) copy.subscriptionIds = record.subscriptionIds;
  if (record.shareGroup !== undefined) copy.shareGroup = record.shareGroup;
  if (record.packetId !== undefined) copy.packetId = record.packetId;
  if (record.deliveries !== undefined) copy.deliveries = record.deliveries;
  return copy;
}

export class DeliveryJournal {
  private state: LoadState = 'loaded';
  /** Deliveries that arrived while the stored ones were being read; they follow those. */
  private arrivedWhileLoading: OutgoingRecord[] = [];
  /** How many deliveries a not-yet-loaded session holds in the store. */
  private unloadedCount = 0;
  /** Where they lie, when the store said where they start (`load` hands it to the read). */
  private unloadedSpan: OutgoingSpan | undefined;

  constructor(
    private readonly clientId: string,
    private readonly log: CommitLog,
    /** Only a session that outlives its connection writes anything. */
    private readonly isPersistent: () => boolean,
  ) {}

  persist(op: StoreOp): void {
    if (this.isPersistent()) this.log.add(op);
  }

  /** This delivery is never written: its owner (a durable queue) keeps the stored copy. */
  exclude(record: OutgoingRecord): void {
    (record as Noted).journalExcluded = true;
  }

  /**
   * Takes back the delivery's last put if it still waits in the open batch; returns whether it
   * did. One already taken for writing is (or will be) on disk: the delivery is noted as stored.
   */
  private retractPut(record: Noted): boolean {
    const put = record.journalPut;
    if (put === undefined) return false;
    record.journalPut = undefined;
    // Asking the log only about the open batch spares it a search of everything pending.
    if (record.journalPutBatch === this.log.openBatch && this.log.retract(put)) return true;
    record.journalStored = true;
    return false;
  }

  /** Writes the delivery's current state; remembered until it is known to be on disk. */
  write(record: OutgoingRecord): void {
    const noted = record as Noted;
    if (!this.isPersistent() || noted.journalExcluded === true) return;
    // A put still waiting in the batch is superseded by this one; one already written is not.
    this.retractPut(noted);
    const put: StoreOp = { type: 'putOutgoing', clientId: this.clientId, record: snapshot(record) };
    this.log.add(put);
    noted.journalPut = put;
    noted.journalPutBatch = this.log.openBatch;
    noted.journalSentUnwritten = false;
  }

  /**
   * A QoS 1 delivery sent from the queue under its stored id: the record on disk already says all
   * a restart needs, except DUP; its 'sent' state is written once, when the client goes away.
   */
  deferSentState(record: OutgoingRecord): void {
    if ((record as Noted).journalExcluded === true) return;
    (record as Noted).journalSentUnwritten = true;
  }

  /** Writes the deferred 'sent' states, so a restart resends these with DUP [3.1.1 MQTT-3.3.1-1]. */
  writeDeferredSentStates(inflight: Iterable<OutgoingRecord>): void {
    for (const record of inflight) {
      if ((record as Noted).journalSentUnwritten === true) this.write(record);
    }
  }

  /** The delivery ended (acknowledged, expired, evicted, moved): it leaves the store. */
  forget(record: OutgoingRecord): void {
    const noted = record as Noted;
    if (record.qos === 0 || noted.journalExcluded === true) return; // QoS 0 is never written, nor an owner's delivery
    noted.journalSentUnwritten = false;
    const hadPut = noted.journalPut !== undefined;
    const isNowhereOnDisk = hadPut && this.retractPut(noted) && noted.journalStored !== true;
    if (!isNowhereOnDisk) this.persist({ type: 'deleteOutgoing', clientId: this.clientId, seq: record.seq });
  }

  // --- the lazy load of a recovered session --------------------------------------------------

  get isLoaded(): boolean {
    return this.state === 'loaded';
  }

  /**
   * Its deliveries stay on disk until `load`; `storedCount` is exact while nothing is read. With
   * `firstSeq` (the lowest stored) and `nextSeq` the store knows they lie in [firstSeq, nextSeq).
   */
  markRecovered(storedCount: number, firstSeq?: number, nextSeq?: number): void {
    this.state = 'unloaded';
    this.unloadedCount = storedCount;
    if (storedCount === 0 && nextSeq !== undefined) this.unloadedSpan = { fromSeq: nextSeq, toSeq: nextSeq, count: 0 };
    else if (firstSeq !== undefined && nextSeq !== undefined) this.unloadedSpan = { fromSeq: firstSeq, toSeq: nextSeq, count: storedCount };
  }

  /**
   * A delivery for a session whose queue is still on disk: the store is the queue, `load` reads
   * it back in order. Returns false when the queue bound refuses it.
   */
  holdUnloaded(record: OutgoingRecord, maxQueued: number): boolean {
    if (this.unloadedCount >= maxQueued) return false;
    this.unloadedCount++;
    const span = this.unloadedSpan;
    if (span) {
      span.toSeq = Math.max(span.toSeq, record.seq + 1);
      span.count++;
    }
    this.persist({ type: 'putOutgoing', clientId: this.clientId, record });
    if (this.state === 'loading') this.arrivedWhileLoading.push(record);
    return true;
  }

  /**
   * Reads the stored deliveries back (once) and hands them to `restore`: those on disk, then
   * those that arrived during the read, each once, in `seq` order — unless the session was
   * discarded meanwhile.
   */
  load(read: (span: OutgoingSpan | undefined) => Promise<OutgoingRecord[]>, restore: (records: OutgoingRecord[]) => void): Promise<void> {
    // A second CONNECT for the client while the first one's read is under way goes on once the
    // records are restored, not before.
    if (this.state === 'loading') return this.loading!;
    if (this.state !== 'unloaded') return Promise.resolve();
    this.state = 'loading';
    this.loading = this.readBack(read).then((records) => {
      if (records) restore(records);
    });
    return this.loading;
  }

  /** The load under way, settled once its records are restored. */
  private loading: Promise<void> | undefined;

  private async readBack(read: (span: OutgoingSpan | undefined) => Promise<OutgoingRecord[]>): Promise<OutgoingRecord[] | undefined> {
    let records: OutgoingRecord[];
    try {
      // Deliveries that reached the session while it was unloaded may still wait in the commit
      // batch; read before they are written and they are missed (they are not in
      // arrivedWhileLoading either) — acknowledged messages gone until the next restart.
      await new Promise<void>((resolve) => this.log.afterCommit(() => resolve()));
      records = await read(this.unloadedSpan);
    } catch (error) {
      this.state = 'unloaded';
      throw error;
    }
    if (this.state !== 'loading') return undefined; // discarded meanwhile
    this.unloadedSpan = undefined;
    const arrived = this.arrivedWhileLoading;
    this.arrivedWhileLoading = [];
    this.state = 'loaded';
    const seen = new Set<number>();
    const restored: OutgoingRecord[] = [];
    for (const record of records) {
      seen.add(record.seq);
      (record as Noted).journalStored = true;
      restored.push(record);
    }
    for (const record of arrived) if (!seen.has(record.seq)) restored.push(record);
    return restored;
  }

  /** The session ended: nothing is owed any more (the store deletes the session as a whole). */
  reset(): void {
    this.state = 'loaded';
    this.arrivedWhileLoading = [];
    this.unloadedCount = 0;
    this.unloadedSpan = undefined;
  }
}
