/**
 * Session invariants, one per test, against a fake connection and a commit log the test commits
 * by hand — no broker, no sockets, no store.
 */
import { describe, expect, it } from 'vitest';
import { DeliveryOutcome, Session, type DropReason, type SessionLimits } from '../../src/session/index.js';
import { SESSION_NEVER_EXPIRES } from '../../src/protocol/index.js';
import { FakeLink, message, RecordingCommitLog } from './fakes.js';

const limits: SessionLimits = { maxInflight: 2, maxQueuedMessages: 100, maxQueuedBytes: 1 << 20 };

function persistentSession(log: RecordingCommitLog, sessionLimits: SessionLimits = limits) {
  const drops: DropReason[] = [];
  const session = new Session('c', 4, SESSION_NEVER_EXPIRES, log, sessionLimits, { onDrop: (_s, reason) => drops.push(reason), now: () => 0 });
  return { session, drops };
}

describe('Session', () => {
  it('writes nothing for a delivery acknowledged before its batch committed', () => {
    const log = new RecordingCommitLog();
    const { session } = persistentSession(log);
    const link = new FakeLink();
    session.attach(link, 65_535);
    session.deliver(message('a'), 1, false, undefined);
    expect(link.texts).toEqual(['a']);
    session.acknowledge(link.publishes[0]!.record.packetId!);
    log.commit();
    expect(log.written.filter((op) => op.type === 'putOutgoing' || op.type === 'deleteOutgoing')).toEqual([]);
  });

  it('deletes a delivery acknowledged after its record was written', () => {
    const log = new RecordingCommitLog();
    const { session } = persistentSession(log);
    const link = new FakeLink();
    session.attach(link, 65_535);
    session.deliver(message('a'), 1, false, undefined);
    log.commit();
    session.acknowledge(link.publishes[0]!.record.packetId!);
    log.commit();
    expect(log.storedOutgoing('c')).toEqual([]);
  });

  it('a PUBACK refills the window at once: the next queued QoS 1 delivery is sent before any commit, its delete still pending', () => {
    const log = new RecordingCommitLog();
    const { session } = persistentSession(log);
    // Queued while offline and written (the offline-queue drain's shape).
    for (const text of ['a', 'b', 'c', 'd']) session.deliver(message(text), 1, false, undefined);
    log.commit();
    const link = new FakeLink();
    session.attach(link, 65_535);
    expect(link.texts).toEqual(['a', 'b']); // the window of 2
    session.acknowledge(link.publishes[0]!.record.packetId!);
    // Sent in the same call, while the delete of 'a' still waits in the open batch.
    expect(link.texts).toEqual(['a', 'b', 'c']);
    expect(log.pending).toEqual([{ type: 'deleteOutgoing', clientId: 'c', seq: link.publishes[0]!.record.seq }]);
  });

  it('[3.1.1 MQTT-4.3.3-1] a QoS 2 PUBLISH to a persistent session leaves only after its sent record committed', () => {
    const log = new RecordingCommitLog();
    const { session } = persistentSession(log);
    const link = new FakeLink();
    session.attach(link, 65_535);
    session.deliver(message('q2', 2), 2, false, undefined);
    expect(link.publishes).toEqual([]);
    expect(log.pending.some((op) => op.type === 'putOutgoing' && op.record.state === 'sent')).toBe(true);
    log.commit();
    expect(link.texts).toEqual(['q2']);
  });

  it('[3.1.1 MQTT-4.3.3-1] PUBREL goes out only after "PUBREC received" committed', () => {
    const log = new RecordingCommitLog();
    const { session } = persistentSession(log);
    const link = new FakeLink();
    session.attach(link, 65_535);
    session.deliver(message('q2', 2), 2, false, undefined);
    log.commit();
    const packetId = link.publishes[0]!.record.packetId!;
    session.received(packetId, false);
    expect(link.pubrels).toEqual([]);
    log.commit();
    expect(link.pubrels).toEqual([packetId]);
  });

  it('[3.1.1 MQTT-4.4.0-1] stored packet ids survive a reload, and order holds across the window, the queue and the reload', async () => {
    const log = new RecordingCommitLog();
    const { session } = persistentSession(log);
    const link = new FakeLink();
    session.attach(link, 65_535);
    for (const text of ['m1', 'm2', 'm3', 'm4', 'm5']) session.deliver(message(text), 1, false, undefined);
    // A window of two: m1 and m2 in flight, m3..m5 queued (each stored with the id it will be sent with).
    expect(link.texts).toEqual(['m1', 'm2']);
    session.detach(1);
    log.commit();
    const stored = log.storedOutgoing('c');
    expect(stored.map((r) => r.message.payload.toString())).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    const storedIds = stored.map((r) => r.packetId);
    expect(storedIds.every((id) => id !== undefined)).toBe(true);

    // A new broker process: the same records come back from the store.
    const after = new RecordingCommitLog();
    const { session: reloaded } = persistentSession(after);
    reloaded.markRecovered(stored.length, stored.at(-1)!.seq + 1);
    const loading = reloaded.loadOutgoing(async () => log.storedOutgoing('c'));
    after.commit(); // the barrier the load waits for
    await loading;
    const back = new FakeLink();
    reloaded.attach(back, 65_535);
    // In flight first, again with DUP, then the queue under its stored ids — window of two.
    expect(back.publishes.map((p) => [p.text, p.isDuplicate])).toEqual([
      ['m1', true],
      ['m2', true],
    ]);
    reloaded.acknowledge(back.publishes[0]!.record.packetId!);
    reloaded.acknowledge(back.publishes[1]!.record.packetId!);
    reloaded.acknowledge(back.publishes[2]!.record.packetId!);
    expect(back.texts).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    expect(back.publishes.map((p) => p.record.packetId)).toEqual(storedIds);
  });

  it('a delivery that reached an unloaded session while its write was pending is loaded with the rest', async () => {
    const log = new RecordingCommitLog();
    const { session } = persistentSession(log);
    session.markRecovered(0, 1);
    expect(session.deliver(message('late'), 1, false, undefined)).toBe(DeliveryOutcome.Accepted);
    // The client returns before the batch holding 'late' is written; the read must wait for it.
    const loading = session.loadOutgoing(async () => log.storedOutgoing('c'));
    await Promise.resolve();
    log.commit();
    await loading;
    const link = new FakeLink();
    session.attach(link, 65_535);
    expect(link.texts).toEqual(['late']);
  });

  it('[3.1.1 MQTT-4.6.0-6] after a crash, stored deliveries go out again in seq order, whatever state each was written in', async () => {
    // On disk after a crash: seq 1 and 2 were sent from the queue (their 'sent' state is only
    // written at disconnect, so they still read 'queued'), seq 3 was sent live and reads 'sent'.
    const stored = [
      { seq: 1, message: message('m1'), qos: 1 as const, retain: false, state: 'queued' as const, packetId: 11 },
      { seq: 2, message: message('m2'), qos: 1 as const, retain: false, state: 'queued' as const, packetId: 12 },
      { seq: 3, message: message('m3'), qos: 1 as const, retain: false, state: 'sent' as const, packetId: 13 },
    ];
    const log = new RecordingCommitLog();
    const { session } = persistentSession(log, { ...limits, maxInflight: 10 });
    session.markRecovered(3, 4);
    const loading = session.loadOutgoing(async () => stored);
    log.commit();
    await loading;
    const link = new FakeLink();
    session.attach(link, 65_535);
    expect(link.publishes.map((p) => [p.text, p.record.packetId, p.isDuplicate])).toEqual([
      ['m1', 11, false],
      ['m2', 12, false],
      ['m3', 13, true],
    ]);
  });

  it('a second CONNECT during the load goes on only once the stored deliveries are in memory', async () => {
    const log = new RecordingCommitLog();
    const { session } = persistentSession(log);
    session.markRecovered(1, 2);
    const stored = [{ seq: 1, message: message('kept'), qos: 1 as const, retain: false, state: 'queued' as const, packetId: 1 }];
    const first = session.loadOutgoing(async () => stored);
    const second = session.loadOutgoing(async () => []);
    log.commit();
    await second;
    const link = new FakeLink();
    session.attach(link, 65_535);
    expect(link.texts).toEqual(['kept']);
    await first;
  });

  it('owns the incoming QoS 2 ids: remembered and stored until released [3.1.1 MQTT-4.3.3-2]', () => {
    const log = new RecordingCommitLog();
    const { session } = persistentSession(log);
    session.rememberIncomingQos2(9);
    expect(session.hasIncomingQos2(9)).toBe(true);
    expect(session.incomingQos2Count).toBe(1);
    expect(session.releaseIncomingQos2(9)).toBe(true);
    expect(session.releaseIncomingQos2(9)).toBe(false);
    log.commit();
    expect(log.written.map((op) => op.type)).toEqual(['putIncomingQos2', 'deleteIncomingQos2']);
  });

  it('at the bound, QoS 0 makes room first, then the newest is refused and counted', () => {
    const log = new RecordingCommitLog();
    const { session, drops } = persistentSession(log, { maxInflight: 1, maxQueuedMessages: 3, maxQueuedBytes: 1 << 20 });
    const link = new FakeLink();
    session.attach(link, 65_535);
    session.deliver(message('inflight'), 1, false, undefined);
    link.isWritable = false; // a slow consumer: everything else queues
    session.deliver(message('a'), 1, false, undefined);
    session.deliver(message('zero', 0), 0, false, undefined);
    session.deliver(message('b'), 1, false, undefined);
    expect(session.deliver(message('c'), 1, false, undefined)).toBe(DeliveryOutcome.Accepted); // 'zero' gave way
    expect(session.deliver(message('d'), 1, false, undefined)).toBe(DeliveryOutcome.RefusedByQuota);
    expect(drops).toEqual(['queue-full', 'queue-full']);
    expect(session.dropped['queue-full']).toBe(2);
    link.isWritable = true;
    session.resume();
    session.acknowledge(link.publishes[0]!.record.packetId!);
    session.acknowledge(link.publishes[1]!.record.packetId!);
    session.acknowledge(link.publishes[2]!.record.packetId!);
    expect(link.texts).toEqual(['inflight', 'a', 'b', 'c']);
  });

  it('with the drop-oldest policy the oldest queued delivery gives way, and its stored record goes', () => {
    const log = new RecordingCommitLog();
    const { session } = persistentSession(log, { maxInflight: 1, maxQueuedMessages: 2, maxQueuedBytes: 1 << 20 });
    session.overflowPolicy = 'drop-oldest';
    for (const text of ['a', 'b', 'c']) session.deliver(message(text), 1, false, undefined);
    log.commit();
    expect(log.storedOutgoing('c').map((r) => r.message.payload.toString())).toEqual(['b', 'c']);
    expect(session.dropped['queue-full']).toBe(1);
  });
});
