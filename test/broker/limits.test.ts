/** Every configured bound, exceeded on purpose: the outcome is the documented one. */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { IConnackPacket, ISubackPacket } from 'mqtt-packet';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient, connectCollecting, RawClient } from '../helpers/clients.js';

const brokers: TestBroker[] = [];
afterEach(async () => {
  await closeAllClients();
  for (const b of brokers.splice(0)) await b.cleanup();
});
async function broker(limits: Record<string, number>): Promise<TestBroker> {
  const tb = await startBroker({ limits });
  brokers.push(tb);
  return tb;
}

describe('limits', () => {
  it('maxConnections: sockets beyond it are closed at once; the others keep working', async () => {
    const tb = await broker({ maxConnections: 2 });
    const a = await RawClient.connect(tb.port, { clientId: 'a' });
    await RawClient.connect(tb.port, { clientId: 'b' });
    const c = await RawClient.open(tb.port);
    await c.waitClosed();
    a.send({ cmd: 'pingreq' });
    await a.next('pingresp');
  });

  it('maxClientIdLength: a longer client id gets CONNACK 0x85 (5.0) / 0x02 (3.1.1)', async () => {
    const tb = await broker({ maxClientIdLength: 32 });
    for (const [version, expected] of [
      [5, 0x85],
      [4, 0x02],
    ] as const) {
      const client = await RawClient.open(tb.port, version);
      client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: 'x'.repeat(33), clean: true, keepalive: 0 });
      const connack = (await client.next('connack')) as IConnackPacket;
      expect(connack.reasonCode ?? connack.returnCode).toBe(expected);
      await client.waitClosed();
    }
  });

  it('maxTopicLength / maxTopicLevels: a longer PUBLISH topic closes (5.0: 0x90); a deeper filter is refused in SUBACK', async () => {
    const tb = await broker({ maxTopicLength: 16, maxTopicLevels: 3 });
    const v5 = await RawClient.connect(tb.port, { clientId: 'tl5', protocolVersion: 5 });
    v5.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/b/c/d', qos: 0 }, { topic: 'a/b/c', qos: 0 }, { topic: 'x'.repeat(17), qos: 0 }] });
    expect(((await v5.next('suback')) as ISubackPacket).granted).toEqual([0x8f, 0, 0x8f]);
    v5.send({ cmd: 'publish', topic: 'y'.repeat(17), payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    expect(await v5.next('disconnect')).toMatchObject({ reasonCode: 0x90 });
    const v4 = await RawClient.connect(tb.port, { clientId: 'tl4' });
    v4.send({ cmd: 'publish', topic: 'a/b/c/d', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    await v4.waitClosed();
  });

  it('maxSubscriptionsPerClient: further filters get 0x97 (5.0) / 0x80 (3.1.1); replacing one is fine', async () => {
    const tb = await broker({ maxSubscriptionsPerClient: 2 });
    const v5 = await RawClient.connect(tb.port, { clientId: 'sq5', protocolVersion: 5 });
    v5.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }, { topic: 'b', qos: 0 }, { topic: 'c', qos: 0 }, { topic: 'a', qos: 1 }] });
    expect(((await v5.next('suback')) as ISubackPacket).granted).toEqual([0, 0, 0x97, 1]);
    const v4 = await RawClient.connect(tb.port, { clientId: 'sq4' });
    v4.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }, { topic: 'b', qos: 0 }, { topic: 'c', qos: 0 }] });
    expect(((await v4.next('suback')) as ISubackPacket).granted).toEqual([0, 0, 0x80]);
  });

  it('maxInflight: at most that many unacknowledged deliveries, the rest queue', async () => {
    const tb = await broker({ maxInflight: 3 });
    const sub = await RawClient.connect(tb.port, { clientId: 'inf' });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'inf/t', qos: 1 }] });
    await sub.next('suback');
    const pub = await connectClient(tb.url, { clientId: 'inf-pub' });
    for (let i = 0; i < 10; i++) await pub.publishAsync('inf/t', String(i), { qos: 1 });
    const session = tb.broker.admin.session('inf')!;
    expect(session.inflightCount).toBe(3);
    expect(session.queuedCount).toBe(7);
  });

  it('maxPublishRate: a faster publisher is slowed (socket paused), nothing is dropped', async () => {
    const tb = await broker({ maxPublishRate: 100 });
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'rate-sub' });
    await client.subscribeAsync('rate/t', { qos: 0 });
    const pub = await connectClient(tb.url, { clientId: 'rate-pub' });
    const startedAt = Date.now();
    for (let i = 0; i < 300; i++) pub.publish('rate/t', String(i), { qos: 0 });
    await collector.waitFor(300, 10_000);
    // 100 burst + 200 at 100/s: at least two seconds, however fast the machine.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1900);
    expect(tb.broker.admin.stats.publishThrottled).toBeGreaterThan(0);
    expect(collector.messages.map((m) => Number(m.payload))).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it('maxConnectRatePerAddress: CONNECTs beyond it get CONNACK 0x9F (5.0)', async () => {
    const tb = await broker({ maxConnectRatePerAddress: 5 });
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) {
      const client = await RawClient.open(tb.port, 5);
      client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `cr${i}`, clean: true, keepalive: 0 });
      codes.push(((await client.next('connack')) as IConnackPacket).reasonCode!);
    }
    expect(codes.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(codes.slice(5)).toEqual([0x9f, 0x9f, 0x9f]);
    expect(tb.broker.admin.stats.connectsRateLimited).toBe(3);
  });

  it('a subscriber that never reads cannot grow broker memory past its bounds; others are unaffected', async () => {
    const tb = await broker({ maxQueuedMessages: 500, maxQueuedBytes: 512 * 1024, socketBufferBytes: 256 * 1024 });
    const gc = (): void => {
      v8.setFlagsFromString('--expose-gc');
      (vm.runInNewContext('gc') as () => void)();
    };
    // The slow consumer: subscribes, then stops reading its socket entirely.
    const slow = await RawClient.connect(tb.port, { clientId: 'slow' });
    slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 1 }] });
    await slow.next('suback');
    slow.socket.pause();
    // The well-behaved subscriber only counts, so the heap figures are the broker's.
    const fast = await connectClient(tb.url, { clientId: 'fast' });
    let fastReceived = 0;
    fast.on('message', () => fastReceived++);
    await fast.subscribeAsync('flood/#', { qos: 0 });
    const pub = await connectClient(tb.url, { clientId: 'flood-pub' });
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const rssBefore = process.memoryUsage().rss;
    const payload = Buffer.alloc(1024, 0x61);
    const total = 20_000; // 20 MiB of payload towards a reader that takes none of it
    for (let i = 0; i < total; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => pub.publishAsync(`flood/${(i + j) % 10}`, payload, { qos: 1 })));
    }
    await expect.poll(() => fastReceived, { timeout: 20_000 }).toBe(total);
    gc();
    const heapAfter = process.memoryUsage().heapUsed;
    const rssAfter = process.memoryUsage().rss;
    const session = tb.broker.admin.session('slow')!;
    process.stdout.write(
      `slow consumer: ${total} x 1 KiB published; slow session queued ${session.queuedCount}, in flight ${session.inflightCount}, ` +
        `dropped ${tb.broker.admin.stats.dropped['queue-full']}; heap +${((heapAfter - heapBefore) / 2 ** 20).toFixed(1)} MiB, ` +
        `RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ${(rssAfter / 2 ** 20).toFixed(0)} MiB (test process, broker in-process)\n`,
    );
    expect(session.queuedCount).toBeLessThanOrEqual(500);
    expect(tb.broker.admin.stats.dropped['queue-full']).toBeGreaterThan(total / 2);
    // Bounded by the slow session's queue (0.5 MiB) + socket buffer (0.25 MiB) + 32 in flight,
    // with slack for allocator noise: far below the 20 MiB pushed at it.
    expect(heapAfter - heapBefore).toBeLessThan(8 * 2 ** 20);
  }, 60_000);
});
