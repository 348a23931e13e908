/**
 * Borrowed deliveries (a durable queue hands its messages to a consumer's session so): never
 * written to the consumer's store records, their end reported to the owner, given back when the
 * client leaves; and a journal that no longer holds a copy of a put once it is committed.
 */
import { describe, expect, it } from 'vitest';
import { Session, type DeliveryOwner, type SessionLimits } from '../../src/session/index.js';
import { SESSION_NEVER_EXPIRES } from '../../src/protocol/index.js';
import type { OutgoingRecord } from '../../src/store/index.js';
import { DeliveryJournal } from '../../src/session/delivery-journal.js';
import { FakeLink, message, RecordingCommitLog } from './fakes.js';

const limits: SessionLimits = { maxInflight: 2, maxQueuedMessages: 100, maxQueuedBytes: 1 << 20 };

class RecordingOwner implements DeliveryOwner {
  readonly settledTexts: string[] = [];
  readonly returnedTexts: string[] = [];
  settled(record: OutgoingRecord, outcome: 'acknowledged' | 'dropped'): void {
    this.settledTexts.push(`${record.message.payload.toString()}:${outcome}`);
  }
  returned(record: OutgoingRecord): void {
    this.returnedTexts.push(record.message.payload.toString());
  }
}

function consumer(log: RecordingCommitLog): Session {
  return new Session('consumer', 5, SESSION_NEVER_EXPIRES, log, limits, { onDrop: () => undefined, now: () => 0 });
}

describe('borrowed deliveries', () => {
  it('are sent under the window, never written, and reported to their owner when acknowledged', () => {
    const log = new RecordingCommitLog();
    const session = consumer(log);
    const link = new FakeLink();
    session.attach(link, 65_535);
    const owner = new RecordingOwner();
    for (const text of ['a', 'b', 'c']) expect(session.deliverBorrowed(message(text), owner)).toBe(true);
    // Window of 2: 'c' waits in the session's memory queue.
    expect(link.texts).toEqual(['a', 'b']);
    session.acknowledge(link.publishes[0]!.record.packetId!);
    expect(owner.settledTexts).toEqual(['a:acknowledged']);
    expect(link.texts).toEqual(['a', 'b', 'c']);
    log.commit();
    expect(log.written.filter((op) => op.type === 'putOutgoing' || op.type === 'deleteOutgoing')).toEqual([]);
  });

  it('go back to their owner, in order, when the client leaves (in flight and queued alike)', () => {
    const log = new RecordingCommitLog();
    const session = consumer(log);
    const link = new FakeLink();
    session.attach(link, 65_535);
    const owner = new RecordingOwner();
    for (const text of ['a', 'b', 'c']) session.deliverBorrowed(message(text), owner);
    session.deliver(message('own'), 1, false, undefined);
    session.detach(1);
    expect(owner.returnedTexts).toEqual(['a', 'b', 'c']);
    // The session's own delivery stays with it, stored; a returned one is not redelivered here.
    const relink = new FakeLink();
    session.attach(relink, 65_535);
    expect(relink.texts).toEqual(['own']);
    expect(session.deliverBorrowed(message('d'), owner)).toBe(true);
    session.detach(2);
    expect(session.deliverBorrowed(message('e'), owner)).toBe(false);
  });

  it('are given back on request to one owner only', () => {
    const log = new RecordingCommitLog();
    const session = consumer(log);
    session.attach(new FakeLink(), 65_535);
    const first = new RecordingOwner();
    const second = new RecordingOwner();
    session.deliverBorrowed(message('1'), first);
    session.deliverBorrowed(message('2'), second);
    session.returnBorrowed(first);
    expect(first.returnedTexts).toEqual(['1']);
    expect(second.returnedTexts).toEqual([]);
  });

  it('a committed put is not retracted later: ending its delivery writes a delete', () => {
    const log = new RecordingCommitLog();
    const session = consumer(log);
    const link = new FakeLink();
    link.isWritable = false;
    session.attach(link, 65_535);
    session.deliver(message('a'), 1, false, undefined);
    log.commit();
    expect(log.storedOutgoing('consumer').map((r) => r.message.payload.toString())).toEqual(['a']);
    link.isWritable = true;
    session.resume();
    session.acknowledge(link.publishes[0]!.record.packetId!);
    log.commit();
    expect(log.storedOutgoing('consumer')).toEqual([]);
  });
});

describe('the journal after a committed put', () => {
  it('a delivery written, committed, written again and ended before that second put commits still leaves the store', () => {
    const log = new RecordingCommitLog();
    const journal = new DeliveryJournal('c', log, () => true);
    const record: OutgoingRecord = { seq: 1, message: message('a'), qos: 1, retain: false, state: 'queued', packetId: 7 };
    journal.write(record);
    log.commit(); // the first put is on disk
    record.state = 'sent';
    journal.write(record); // a second put, still in the batch
    journal.forget(record); // retracts the second put; the first must still be deleted
    log.commit();
    expect(log.storedOutgoing('c')).toEqual([]);
  });
});
