import { describe, expect, it } from 'vitest';
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet';
import { useBroker } from '../helpers/broker.js';
import { connectClient, connectCollecting, RawClient } from '../helpers/clients.js';

const tb = useBroker();

async function rawConnect(clientId: string, clean: boolean, version: 4 | 5 = 4, properties?: Record<string, unknown>, port = tb.port) {
  const client = await RawClient.open(port, version);
  client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId, clean, keepalive: 0, ...(properties ? { properties } : {}) });
  const connack = (await client.next('connack')) as IConnackPacket;
  return { client, connack };
}

describe.each([4, 5] as const)('resumed sessions (protocol level %i)', (protocolVersion) => {
  // A broker per version: one run's client ids never meet the other's.
  const tb = useBroker();
  /** A session that outlives its connection: Clean Session 0 (3.1.1); Clean Start 0 with an expiry interval (5.0). */
  const resumable = (clientId: string) => rawConnect(clientId, false, protocolVersion, protocolVersion === 5 ? { sessionExpiryInterval: 300 } : undefined, tb.port);

  it('[3.1.1 MQTT-3.2.2-3] [3.1.1 MQTT-3.2.2-2] [5.0 MQTT-3.2.2-3] [5.0 MQTT-3.1.2-5] [5.0 MQTT-3.1.2-6] session present is 0 for a new persistent session and 1 when resumed', async () => {
    const first = await resumable('sp1');
    expect(first.connack.sessionPresent).toBe(false);
    first.client.send({ cmd: 'disconnect' });
    await first.client.waitClosed();
    const second = await resumable('sp1');
    expect(second.connack.sessionPresent).toBe(true);
  });

  it('[3.1.1 MQTT-3.1.2-5] [3.1.1 MQTT-4.4.0-1] [5.0 MQTT-3.1.2-23] [5.0 MQTT-4.4.0-1] queues QoS 1/2 while away, resends in-flight with DUP, then the queue', async () => {
    const sub = await resumable('sp3');
    sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sp3/t', qos: 2 }] });
    await sub.client.next('suback');
    const pub = await connectClient(tb.url, { clientId: 'sp3-pub' });
    await pub.publishAsync('sp3/t', 'inflight', { qos: 1 });
    const first = (await sub.client.next('publish')) as IPublishPacket;
    expect(first.payload.toString()).toBe('inflight');
    // Vanish without acking: 'inflight' stays unacknowledged.
    sub.client.destroy();
    await expect.poll(() => tb.broker.admin.session('sp3')!.isOnline).toBe(false);
    await pub.publishAsync('sp3/t', 'queued-1', { qos: 1 });
    await pub.publishAsync('sp3/t', 'queued-2', { qos: 2 });
    await pub.publishAsync('sp3/t', 'qos0-dropped', { qos: 0 });

    const back = await resumable('sp3');
    expect(back.connack.sessionPresent).toBe(true);
    const resent = (await back.client.next('publish')) as IPublishPacket;
    expect(resent).toMatchObject({ dup: true, messageId: first.messageId, qos: 1 });
    expect(resent.payload.toString()).toBe('inflight');
    const q1 = (await back.client.next('publish')) as IPublishPacket;
    const q2 = (await back.client.next('publish')) as IPublishPacket;
    expect([q1.payload.toString(), q2.payload.toString()]).toEqual(['queued-1', 'queued-2']);
    expect([q1.dup, q2.dup]).toEqual([false, false]);
    expect(q2.qos).toBe(2);
  });

  it('[3.1.1 MQTT-4.4.0-1] [5.0 MQTT-4.4.0-1] a QoS 2 delivery PUBRECed before the drop is resumed with PUBREL, not the PUBLISH', async () => {
    const sub = await resumable('sp4');
    sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sp4/t', qos: 2 }] });
    await sub.client.next('suback');
    const pub = await connectClient(tb.url, { clientId: 'sp4-pub' });
    await pub.publishAsync('sp4/t', 'x', { qos: 2 });
    const publish = (await sub.client.next('publish')) as IPublishPacket;
    sub.client.send({ cmd: 'pubrec', messageId: publish.messageId! });
    await sub.client.next('pubrel');
    sub.client.destroy();
    await expect.poll(() => tb.broker.admin.session('sp4')!.isOnline).toBe(false);
    const back = await resumable('sp4');
    expect(await back.client.next('pubrel')).toMatchObject({ messageId: publish.messageId });
    back.client.send({ cmd: 'pubcomp', messageId: publish.messageId! });
    await expect.poll(() => tb.broker.admin.session('sp4')!.inflightCount).toBe(0);
    expect(back.client.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
  });
});

describe('sessions', () => {
  it('[3.1.1 MQTT-3.2.2-1] [3.1.1 MQTT-3.1.2-6] clean session discards the stored session', async () => {
    const first = await rawConnect('sp2', false);
    first.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sp2/t', qos: 1 }] });
    await first.client.next('suback');
    first.client.destroy();
    await first.client.waitClosed();
    const clean = await rawConnect('sp2', true);
    expect(clean.connack.sessionPresent).toBe(false);
    clean.client.send({ cmd: 'disconnect' });
    await clean.client.waitClosed();
    const again = await rawConnect('sp2', false);
    expect(again.connack.sessionPresent).toBe(false);
    expect(tb.broker.admin.session('sp2')!.subscriptions.size).toBe(0);
  });

  it('MQTT 5: session expiry 0 ends the session with the connection', async () => {
    const first = await rawConnect('sp5', false, 5, { sessionExpiryInterval: 0 });
    first.client.destroy();
    await expect.poll(() => tb.broker.admin.session('sp5')).toBeUndefined();
    const back = await rawConnect('sp5', false, 5, { sessionExpiryInterval: 60 });
    expect(back.connack.sessionPresent).toBe(false);
  });

  it('MQTT 5: a session with an expiry interval survives the connection and then expires', async () => {
    const first = await rawConnect('sp6', true, 5, { sessionExpiryInterval: 1 });
    first.client.destroy();
    await expect.poll(() => tb.broker.admin.session('sp6')?.isOnline).toBe(false);
    // Expiry runs on the broker's own timer: 1 s after the disconnect the session is gone.
    await expect.poll(() => tb.broker.admin.session('sp6'), { timeout: 4000 }).toBeUndefined();
  });

  it('MQTT.js persistent client gets messages published while it was offline', async () => {
    const sub = await connectClient(tb.url, { clientId: 'sp7', clean: false });
    await sub.subscribeAsync('sp7/t', { qos: 1 });
    await sub.endAsync();
    const pub = await connectClient(tb.url, { clientId: 'sp7-pub' });
    for (let i = 0; i < 10; i++) await pub.publishAsync('sp7/t', `m${i}`, { qos: 1 });
    const { collector } = await connectCollecting(tb.url, { clientId: 'sp7', clean: false });
    const messages = await collector.waitFor(10);
    expect(messages.map((m) => m.payload)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
  });
});

describe('session takeover', () => {
  it('[3.1.1 MQTT-3.1.4-2] [5.0 MQTT-3.1.4-3] a second connection with the same id closes the first (5.0: DISCONNECT 0x8E) and inherits its session', async () => {
    const first = await rawConnect('to1', false, 5, { sessionExpiryInterval: 300 });
    first.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'to1/t', qos: 1 }] });
    await first.client.next('suback');
    const second = await rawConnect('to1', false, 5, { sessionExpiryInterval: 300 });
    expect(await first.client.next('disconnect')).toMatchObject({ reasonCode: 0x8e });
    await first.client.waitClosed();
    expect(second.connack.sessionPresent).toBe(true);
    const pub = await connectClient(tb.url, { clientId: 'to1-pub' });
    await pub.publishAsync('to1/t', 'to the new one', { qos: 1 });
    const msg = (await second.client.next('publish')) as IPublishPacket;
    expect(msg.payload.toString()).toBe('to the new one');
  });

  it('3.1.1 takeover: the old connection is closed, the new one keeps working', async () => {
    const a = await connectClient(tb.url, { clientId: 'to2', clean: false });
    const closed = new Promise<void>((resolve) => a.once('close', () => resolve()));
    const b = await connectClient(tb.url, { clientId: 'to2', clean: false });
    await closed;
    expect(b.connected).toBe(true);
    await b.subscribeAsync('to2/t', { qos: 1 });
  });
});
