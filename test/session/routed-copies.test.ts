/**
 * Cluster QoS 2 exactly once on the session side: a publication routed to a session again under
 * the same routing id (a resend after the publishing node died, an inbox batch applied twice) is
 * not delivered a second time, also after the first copy completed or came back from the store;
 * and a stored incoming QoS 2 id with a routing id makes its resend route again, once.
 */
import { describe, expect, it } from 'vitest';
import { DeliveryOutcome, Session, type SessionLimits } from '../../src/session/index.js';
import { SESSION_NEVER_EXPIRES } from '../../src/protocol/index.js';
import type { Message } from '../../src/store/index.js';
import { FakeLink, message, RecordingCommitLog } from './fakes.js';

const limits: SessionLimits = { maxInflight: 10, maxQueuedMessages: 100, maxQueuedBytes: 1 << 20 };
const newSession = (log: RecordingCommitLog): Session => new Session('c', 4, SESSION_NEVER_EXPIRES, log, limits, { onDrop: () => undefined, now: () => 0 });
const routed = (text: string, routingId: string): Message => ({ ...message(text, 2), routingId });

describe('Session: QoS 2 routing ids (cluster)', () => {
  it('[3.1.1 MQTT-4.3.3-2] a second copy under the same routing id is not delivered, also after the first completed', () => {
    const log = new RecordingCommitLog();
    const session = newSession(log);
    const link = new FakeLink();
    session.attach(link, 65_535);
    expect(session.deliver(routed('a', 'r1'), 2, false, undefined)).toBe(DeliveryOutcome.Accepted);
    log.commit();
    const packetId = link.publishes[0]!.record.packetId!;
    session.received(packetId, false);
    log.commit();
    session.completed(packetId);
    log.commit();
    expect(session.deliver(routed('a', 'r1'), 2, false, undefined)).toBe(DeliveryOutcome.Accepted);
    log.commit();
    expect(link.texts).toEqual(['a']);
    // Another publication (another id) and one without an id go through.
    session.deliver(routed('b', 'r2'), 2, false, undefined);
    session.deliver(message('c', 2), 2, false, undefined);
    log.commit();
    expect(link.texts).toEqual(['a', 'b', 'c']);
  });

  it('a QoS 1 delivery of a QoS 2 publication is not held back by its routing id', () => {
    const log = new RecordingCommitLog();
    const session = newSession(log);
    const link = new FakeLink();
    session.attach(link, 65_535);
    session.deliver(routed('a', 'r1'), 1, false, undefined);
    session.deliver(routed('a', 'r1'), 1, false, undefined);
    expect(link.texts).toEqual(['a', 'a']);
  });

  it('two stored copies of one publication come back as one, the other leaves the store', async () => {
    const log = new RecordingCommitLog();
    const session = newSession(log);
    session.markRecovered(2, 3);
    const stored = [
      { seq: 1, message: routed('a', 'r1'), qos: 2 as const, retain: false, state: 'queued' as const, packetId: 1 },
      { seq: 2, message: routed('a', 'r1'), qos: 2 as const, retain: false, state: 'queued' as const, packetId: 2 },
    ];
    const loading = session.loadOutgoing(async () => stored);
    log.commit();
    await loading;
    expect(session.queuedCount).toBe(1);
    log.commit();
    expect(log.written).toContainEqual({ type: 'deleteOutgoing', clientId: 'c', seq: 2 });
    // Routed a third time: not delivered.
    session.deliver(routed('a', 'r1'), 2, false, undefined);
    expect(session.queuedCount).toBe(1);
  });

  it('an incoming QoS 2 id stored with its routing id is stored before routing, and a resend after a restore routes again once', () => {
    const log = new RecordingCommitLog();
    const session = newSession(log);
    session.rememberIncomingQos2(7, 'r7');
    expect(log.pending).toContainEqual({ type: 'putIncomingQos2', clientId: 'c', packetId: 7, routingId: 'r7' });
    expect(session.takeIncomingReroute(7)).toBeUndefined(); // routed here: a resend only waits for it

    const restored = newSession(new RecordingCommitLog());
    restored.restoreIncomingQos2([7, 8], new Map([[7, 'r7']]));
    expect(restored.hasIncomingQos2(7)).toBe(true);
    expect(restored.takeIncomingReroute(7)).toBe('r7');
    expect(restored.takeIncomingReroute(7)).toBeUndefined();
    expect(restored.takeIncomingReroute(8)).toBeUndefined(); // no routing id: a single-node record, routed before it was stored
  });
});
