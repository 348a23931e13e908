/**
 * The router and its shared groups with fakes: a real SessionRegistry over a recording commit log,
 * sessions attached to FakeLinks. No broker, no socket, no timer.
 */
import { describe, expect, it } from 'vitest';
import { Router } from '../../src/broker/router.js';
import type { SharedStrategy } from '../../src/broker/shared-group.js';
import { SessionRegistry } from '../../src/session/index.js';
import type { Message, SubscriptionRecord } from '../../src/store/index.js';
import { FakeLink, RecordingCommitLog } from '../session/fakes.js';

function setup(sharedStrategy: SharedStrategy = 'round-robin', maxRetainedMessages = 100) {
  const log = new RecordingCommitLog();
  const sessions = new SessionRegistry(log, { maxInflight: 10, maxQueuedMessages: 10, maxQueuedBytes: 1 << 20 }, { onDrop: () => undefined, now: () => 0 });
  const refused: Message[] = [];
  const router = new Router(sessions, log, { maxRetainedMessages, maxRetainedBytes: 1 << 20, sharedStrategy, onRetainRefused: (m) => refused.push(m) });
  const online = (clientId: string, version: 4 | 5 = 5): FakeLink => {
    const link = new FakeLink();
    sessions.create(clientId, version, 0).attach(link, 65_535);
    return link;
  };
  const subscribe = (clientId: string, filter: string, qos: 0 | 1 | 2 = 0, extra: Partial<SubscriptionRecord> = {}): void => {
    const subscription: SubscriptionRecord = { filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0, ...extra };
    sessions.get(clientId)!.setSubscription(subscription);
    router.addSubscription(clientId, subscription);
  };
  return { log, sessions, router, online, subscribe, refused };
}

const msg = (topic: string, text = topic, qos: 0 | 1 | 2 = 0, retain = false): Message => ({ topic, payload: Buffer.from(text), qos, retain });

describe('Router', () => {
  it('[3.1.1 MQTT-3.3.5-1] a message goes once to each matching session, at the highest QoS of its overlapping subscriptions (capped by the message’s)', () => {
    const { router, online, subscribe } = setup();
    const a = online('a');
    const b = online('b');
    subscribe('a', 'x/+', 1);
    subscribe('b', 'x/#', 0);
    subscribe('b', 'x/y', 2); // overlapping: one delivery at the highest granted QoS
    expect(router.route(msg('x/y', 'm', 1), 'p')).toBe(2);
    expect(a.publishes.map((p) => p.record.qos)).toEqual([1]);
    expect(b.publishes.map((p) => p.record.qos)).toEqual([1]);
    expect(router.route(msg('other'), 'p')).toBe(0);
  });

  it('[5.0 MQTT-3.8.3-3] No Local: the publisher’s own subscription does not receive it', () => {
    const { router, online, subscribe } = setup();
    const self = online('self');
    subscribe('self', 't', 0, { noLocal: true });
    expect(router.route(msg('t'), 'self')).toBe(0);
    expect(self.publishes).toHaveLength(0);
  });

  it('[3.1.1 MQTT-3.3.1-5] [3.1.1 MQTT-3.3.1-10] keeps the last retained message per topic; an empty payload deletes it', () => {
    const { router, log } = setup();
    router.route(msg('r', 'one', 0, true), 'p');
    router.route(msg('r', 'two', 0, true), 'p');
    expect(router.retained.get('r')?.payload.toString()).toBe('two');
    expect(log.pending.some((op) => op.type === 'putRetained')).toBe(true);
    router.route(msg('r', '', 0, true), 'p');
    expect(router.retained.get('r')).toBeUndefined();
  });

  it('a full retained store refuses new topics (reported), replacing existing ones still works', () => {
    const { router, refused } = setup('round-robin', 1);
    router.route(msg('r1', 'a', 0, true), 'p');
    router.route(msg('r2', 'b', 0, true), 'p');
    expect(router.retained.get('r2')).toBeUndefined();
    expect(refused.map((m) => m.topic)).toEqual(['r2']);
    router.route(msg('r1', 'c', 0, true), 'p');
    expect(router.retained.get('r1')?.payload.toString()).toBe('c');
  });

  it('removing a subscription stops deliveries and the count follows', () => {
    const { router, online, subscribe } = setup();
    const a = online('a');
    subscribe('a', 'k');
    expect(router.subscriptionCount).toBe(1);
    router.removeSubscription('a', 'k');
    expect(router.subscriptionCount).toBe(0);
    expect(router.route(msg('k'), 'p')).toBe(0);
    expect(a.publishes).toHaveLength(0);
  });
});

describe('shared groups', () => {
  it('round-robin: each message goes to exactly one member, in turn', () => {
    const { router, online, subscribe } = setup('round-robin');
    const links = ['m1', 'm2', 'm3'].map((id) => {
      const link = online(id);
      subscribe(id, '$share/g/jobs/+', 1);
      return link;
    });
    for (let i = 0; i < 6; i++) router.route(msg('jobs/a', `j${i}`, 1), 'p');
    expect(links.map((l) => l.texts)).toEqual([
      ['j0', 'j3'],
      ['j1', 'j4'],
      ['j2', 'j5'],
    ]);
  });

  it('sticky: one publisher’s messages stay with one member', () => {
    const { router, online, subscribe } = setup('sticky');
    const links = ['s1', 's2'].map((id) => {
      const link = online(id);
      subscribe(id, '$share/g/t', 0);
      return link;
    });
    for (let i = 0; i < 4; i++) router.route(msg('t', `x${i}`), 'publisher-1');
    expect(links.map((l) => l.texts.length).sort()).toEqual([0, 4]);
  });

  it('a group and a plain subscription on one filter each get the message', () => {
    const { router, online, subscribe } = setup();
    const member = online('member');
    const plain = online('plain');
    subscribe('member', '$share/g/t');
    subscribe('plain', 't');
    expect(router.route(msg('t'), 'p')).toBe(2);
    expect(member.texts).toEqual(['t']);
    expect(plain.texts).toEqual(['t']);
  });

  it('an offline persistent member holds messages for the group; the first member online gathers them', () => {
    const { router, sessions, subscribe } = setup();
    const keeper = sessions.create('keeper', 5, 3600);
    subscribe('keeper', '$share/g/q', 1);
    expect(router.route(msg('q', 'held', 1), 'p')).toBe(1);
    expect(keeper.queuedCount).toBe(1);
    const link = new FakeLink();
    keeper.attach(link, 65_535);
    router.gatherShared(keeper);
    expect(link.texts).toEqual(['held']);
  });
});
