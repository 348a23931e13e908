/** Stand-ins for what a Session talks to: the connection (SessionLink) and the commit log. */
import type { SessionLink } from '../../src/session/index.js';
import type { CommitCallback, CommitLog, Message, OutgoingRecord, StoreOp } from '../../src/store/index.js';

/** A commit log whose batch is written only when the test says so. */
export class RecordingCommitLog implements CommitLog {
  pending: StoreOp[] = [];
  written: StoreOp[] = [];
  openBatch = 0;
  private callbacks: CommitCallback[] = [];

  add(op: StoreOp): void {
    this.pending.push(op);
  }

  retract(op: StoreOp): boolean {
    const index = this.pending.indexOf(op);
    if (index < 0) return false;
    this.pending.splice(index, 1);
    return true;
  }

  afterCommit(callback: CommitCallback): void {
    this.callbacks.push(callback);
  }

  /** Writes the pending batch, then tells everyone who waited for it. */
  commit(): void {
    this.written.push(...this.pending);
    this.pending = [];
    this.openBatch++;
    const callbacks = this.callbacks;
    this.callbacks = [];
    for (const callback of callbacks) callback(undefined);
  }

  /** The outgoing records the written operations leave on "disk", by seq. */
  storedOutgoing(clientId: string): OutgoingRecord[] {
    const bySeq = new Map<number, OutgoingRecord>();
    for (const op of this.written) {
      if (op.type === 'putOutgoing' && op.clientId === clientId) bySeq.set(op.record.seq, { ...op.record });
      if (op.type === 'deleteOutgoing' && op.clientId === clientId) bySeq.delete(op.seq);
    }
    return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  }
}

export class FakeLink implements SessionLink {
  isWritable = true;
  readonly publishes: Array<{ record: OutgoingRecord; isDuplicate: boolean; text: string }> = [];
  readonly pubrels: number[] = [];

  sendPublish(record: OutgoingRecord, isDuplicate: boolean): void {
    this.publishes.push({ record, isDuplicate, text: record.message.payload.toString() });
  }

  sendPubrel(packetId: number): void {
    this.pubrels.push(packetId);
  }

  get texts(): string[] {
    return this.publishes.map((p) => p.text);
  }
}

export function message(text: string, qos: 0 | 1 | 2 = 1): Message {
  return { topic: 't', payload: Buffer.from(text), qos, retain: false };
}
