import { afterEach, describe, expect, it } from 'vitest';
import type { IPublishPacket } from 'mqtt-packet';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient, connectCollecting, MessageCollector, RawClient } from '../helpers/clients.js';

const brokers: TestBroker[] = [];
afterEach(async () => {
  await closeAllClients();
  for (const b of brokers.splice(0)) await b.cleanup();
});

async function broker(options: Parameters<typeof startBroker>[0] = {}): Promise<TestBroker> {
  const tb = await startBroker(options);
  brokers.push(tb);
  return tb;
}

/** Publishes `count` QoS 1 messages numbered from `from`, 64 in flight. */
async function publishNumbered(url: string, topic: string, from: number, count: number, clientId: string): Promise<void> {
  const pub = await connectClient(url, { clientId });
  for (let i = 0; i < count; i += 64) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 64); j++) batch.push(pub.publishAsync(topic, String(from + j), { qos: 1 }));
    await Promise.all(batch);
  }
  await pub.endAsync();
}

describe('shared subscriptions', () => {
  it('[5.0 MQTT-4.8.2-3] 4 members share 10k messages evenly (±10%), each message once, at the member’s QoS', async () => {
    const tb = await broker();
    const members: MessageCollector[] = [];
    for (let i = 0; i < 4; i++) {
      const { client, collector } = await connectCollecting(tb.url, { clientId: `member-${i}`, protocolVersion: 5 });
      await client.subscribeAsync('$share/workers/jobs/+', { qos: 1 });
      members.push(collector);
    }
    const total = 10_000;
    await publishNumbered(tb.url, 'jobs/a', 0, total, 'shared-pub');
    await expect.poll(() => members.reduce((n, m) => n + m.messages.length, 0), { timeout: 15_000 }).toBe(total);
    const counts = members.map((m) => m.messages.length);
    for (const count of counts) expect(Math.abs(count - total / 4)).toBeLessThanOrEqual(total / 4 / 10);
    const all = members.flatMap((m) => m.messages.map((x) => Number(x.payload)));
    expect(new Set(all).size).toBe(total);
  });

  it('3.1.1 clients may use $share too, and a member also subscribed normally gets both copies', async () => {
    const tb = await broker();
    const { client: a, collector: ca } = await connectCollecting(tb.url, { clientId: 'v4-a', protocolVersion: 4 });
    await a.subscribeAsync({ '$share/g/t/1': { qos: 1 }, 't/1': { qos: 1 } });
    const pub = await connectClient(tb.url, { clientId: 'v4-pub' });
    await pub.publishAsync('t/1', 'x', { qos: 1 });
    await ca.waitFor(2);
    expect(ca.messages.map((m) => m.payload)).toEqual(['x', 'x']);
  });

  it('retained messages are not sent on a shared subscription', async () => {
    const tb = await broker();
    const pub = await connectClient(tb.url, { clientId: 'ret-pub' });
    await pub.publishAsync('sr/a', 'retained', { qos: 1, retain: true });
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'ret-member', protocolVersion: 5 });
    await client.subscribeAsync({ '$share/g/sr/#': { qos: 1 }, 'sr/marker': { qos: 1 } });
    await pub.publishAsync('sr/marker', 'end', { qos: 1 });
    // The marker matches both subscriptions: two copies (a shared subscription is a delivery of
    // its own); the retained sr/a never arrives.
    await collector.waitFor(2);
    expect(collector.messages.map((m) => m.topic)).toEqual(['sr/marker', 'sr/marker']);
  });

  it('prefers online members; a persistent member that is offline queues only when nobody is online', async () => {
    const tb = await broker();
    const offline = await RawClient.connect(tb.port, { clientId: 'off-member', clean: false });
    offline.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/on/t', qos: 1 }] });
    await offline.next('suback');
    offline.send({ cmd: 'disconnect' });
    await offline.waitClosed();
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'on-member' });
    await client.subscribeAsync('$share/g/on/t', { qos: 1 });
    await publishNumbered(tb.url, 'on/t', 0, 20, 'on-pub');
    await collector.waitFor(20);
    expect(tb.broker.admin.session('off-member')!.queuedCount).toBe(0);
    await client.endAsync();
    await publishNumbered(tb.url, 'on/t', 100, 3, 'on-pub2');
    expect(tb.broker.admin.session('off-member')!.queuedCount).toBe(3);
  });

  it('with every member offline, messages wait for the group: the first member back gets them all', async () => {
    const tb = await broker();
    for (const id of ['wait-a', 'wait-b']) {
      const member = await RawClient.connect(tb.port, { clientId: id, clean: false });
      member.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/w/wait/t', qos: 1 }] });
      await member.next('suback');
      member.send({ cmd: 'disconnect' });
      await member.waitClosed();
    }
    await publishNumbered(tb.url, 'wait/t', 0, 10, 'wait-pub');
    // Held by the offline members meanwhile (spread over both by the strategy).
    expect(tb.broker.admin.session('wait-a')!.queuedCount + tb.broker.admin.session('wait-b')!.queuedCount).toBe(10);
    const { collector } = await connectCollecting(tb.url, { clientId: 'wait-b', clean: false });
    const received = await collector.waitFor(10);
    expect(received.map((m) => Number(m.payload)).sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, n) => n));
    expect(tb.broker.admin.session('wait-a')!.queuedCount).toBe(0);
  });

  it('with every member offline across a restart, messages still wait for the group: the first member back gets them all', async () => {
    const first = await startBroker({ store: { type: 'level' } });
    for (const id of ['rwait-a', 'rwait-b', 'rwait-c']) {
      const member = await RawClient.connect(first.port, { clientId: id, clean: false });
      member.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/rw/rwait/t', qos: 1 }] });
      await member.next('suback');
      member.send({ cmd: 'disconnect' });
      await member.waitClosed();
    }
    await publishNumbered(first.url, 'rwait/t', 0, 30, 'rwait-pub');
    const held = (tb: TestBroker): number[] => ['rwait-a', 'rwait-b', 'rwait-c'].map((id) => tb.broker.admin.session(id)!.queuedCount);
    // Spread over the offline members by the strategy.
    expect(held(first).filter((n) => n > 0).length).toBeGreaterThan(1);
    await first.stop();
    // After the restart the offline members' deliveries are on disk only (loaded lazily).
    const second = await broker({ store: { type: 'level' }, dataDir: first.dataDir });
    const { collector } = await connectCollecting(second.url, { clientId: 'rwait-b', clean: false });
    const received = await collector.waitFor(30, 20_000);
    expect(received.map((m) => Number(m.payload)).sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, n) => n));
    await expect.poll(() => held(second)).toEqual([0, 0, 0]);
  }, 60_000);

  it('members joining and leaving mid-stream: no loss, no duplicates; a leaver’s unacked messages go to another member', async () => {
    const tb = await broker();
    const received: number[] = [];
    const { client: stay, collector: cStay } = await connectCollecting(tb.url, { clientId: 'stay', protocolVersion: 5 });
    await stay.subscribeAsync('$share/g/mid/t', { qos: 1 });
    // A raw member that receives but never acks, then vanishes: its in-flight messages must move.
    const leaver = await RawClient.connect(tb.port, { clientId: 'leaver', protocolVersion: 5, properties: { receiveMaximum: 5 } });
    leaver.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/mid/t', qos: 1 }] });
    await leaver.next('suback');
    const first = publishNumbered(tb.url, 'mid/t', 0, 1000, 'mid-pub-1');
    const { client: joiner, collector: cJoin } = await connectCollecting(tb.url, { clientId: 'joiner', protocolVersion: 5 });
    await joiner.subscribeAsync('$share/g/mid/t', { qos: 1 });
    await first;
    await expect.poll(() => leaver.packets.filter((p) => p.cmd === 'publish').length).toBeGreaterThan(0);
    const leaverGot = leaver.packets.filter((p) => p.cmd === 'publish').map((p) => Number((p as IPublishPacket).payload.toString()));
    leaver.destroy();
    await publishNumbered(tb.url, 'mid/t', 1000, 1000, 'mid-pub-2');
    const total = 2000;
    await expect.poll(() => new Set([...cStay.messages, ...cJoin.messages].map((m) => Number(m.payload))).size, { timeout: 15_000 }).toBe(total);
    received.push(...cStay.messages.map((m) => Number(m.payload)), ...cJoin.messages.map((m) => Number(m.payload)));
    // Everything arrived at the members that stayed, and the leaver's unacked ones among them.
    for (const n of leaverGot) expect(received).toContain(n);
    // The leaver's copies never reached an application (it never acked), so the members that stayed
    // see each message exactly once.
    const duplicates = received.length - new Set(received).size;
    expect(duplicates).toBe(0);
    expect(cJoin.messages.length).toBeGreaterThan(0);
  });

  it('[5.0 MQTT-3.8.3-4] MQTT 5: No Local on a shared subscription is a protocol error', async () => {
    const tb = await broker();
    const client = await RawClient.connect(tb.port, { clientId: 'nl-shared', protocolVersion: 5 });
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/x', qos: 1, nl: true }] });
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
  });

  it.each(['random', 'sticky'] as const)('strategy %s: every message once, to online members', async (strategy) => {
    const tb = await broker({ sharedSubscriptionStrategy: strategy });
    const members: MessageCollector[] = [];
    for (let i = 0; i < 3; i++) {
      const { client, collector } = await connectCollecting(tb.url, { clientId: `${strategy}-${i}` });
      await client.subscribeAsync('$share/s/st/t', { qos: 1 });
      members.push(collector);
    }
    await publishNumbered(tb.url, 'st/t', 0, 300, `${strategy}-pub`);
    await expect.poll(() => members.reduce((n, m) => n + m.messages.length, 0)).toBe(300);
    const counts = members.map((m) => m.messages.length);
    if (strategy === 'sticky') expect(counts.filter((c) => c > 0)).toEqual([300]);
    else expect(counts.every((c) => c > 30)).toBe(true);
  });
});
