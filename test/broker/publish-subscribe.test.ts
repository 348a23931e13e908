import { describe, expect, it } from 'vitest';
import type { IPublishPacket, ISubackPacket } from 'mqtt-packet';
import { useBroker } from '../helpers/broker.js';
import { connectClient, MessageCollector, RawClient } from '../helpers/clients.js';

const tb = useBroker();

describe('PUBLISH and SUBSCRIBE', () => {
  for (const version of [4, 5] as const) {
    for (const qos of [0, 1, 2] as const) {
      it(`[3.1.1 MQTT-3.3.4-1] [5.0 MQTT-3.3.4-1] MQTT ${version === 4 ? '3.1.1' : '5.0'}: QoS ${qos} publish reaches a QoS ${qos} subscriber`, async () => {
        const sub = await connectClient(tb.url, { clientId: `sub-${version}-${qos}`, protocolVersion: version });
        const collector = new MessageCollector(sub);
        await sub.subscribeAsync(`pq/${version}/${qos}`, { qos });
        const pub = await connectClient(tb.url, { clientId: `pub-${version}-${qos}`, protocolVersion: version });
        await pub.publishAsync(`pq/${version}/${qos}`, 'hello', { qos });
        const [msg] = await collector.waitFor(1);
        expect(msg!.payload).toBe('hello');
        expect(msg!.packet.qos).toBe(qos);
        expect(msg!.packet.retain).toBe(false);
      });
    }
  }

  it('[3.1.1 MQTT-3.3.5-1] overlapping subscriptions deliver one copy at the highest QoS (3.1.1)', async () => {
    const sub = await connectClient(tb.url, { clientId: 'overlap' });
    const collector = new MessageCollector(sub);
    await sub.subscribeAsync({ 'ov/#': { qos: 0 }, 'ov/+': { qos: 2 }, 'ov/x': { qos: 1 } });
    const pub = await connectClient(tb.url, { clientId: 'overlap-pub' });
    await pub.publishAsync('ov/x', 'once', { qos: 2 });
    await pub.publishAsync('ov/marker/end', 'end', { qos: 0 });
    const messages = await collector.waitFor(2);
    expect(messages.map((m) => m.payload)).toEqual(['once', 'end']);
    expect(messages[0]!.packet.qos).toBe(2);
  });

  it('[3.1.1 MQTT-3.8.4-5] [3.1.1 MQTT-3.9.3-1] invalid filters get 0x80 in their place (3.1.1)', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'badfilters' });
    client.send({
      cmd: 'subscribe',
      messageId: 5,
      subscriptions: [
        { topic: 'ok/+', qos: 1 },
        { topic: 'a/#/b', qos: 1 },
        { topic: 'a+/b', qos: 0 },
        { topic: 'x/#', qos: 2 },
      ],
    });
    const suback = (await client.next('suback')) as ISubackPacket;
    expect(suback.messageId).toBe(5);
    expect(suback.granted).toEqual([1, 0x80, 0x80, 2]);
  });

  it('MQTT 5: an invalid filter gets 0x8F (plain or shared) in its place', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'badfilters5', protocolVersion: 5 });
    client.send({
      cmd: 'subscribe',
      messageId: 6,
      subscriptions: [
        { topic: 'a/#/b', qos: 1 },
        { topic: '$share/g/a', qos: 1 },
        { topic: '$share/g+/a', qos: 1 },
        { topic: 'fine', qos: 1 },
      ],
    });
    const suback = (await client.next('suback')) as ISubackPacket;
    expect(suback.granted).toEqual([0x8f, 1, 0x8f, 1]);
  });

  it('[3.1.1 MQTT-3.3.2-2] a PUBLISH with a wildcard in its topic closes the connection (3.1.1)', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'wildpub' });
    client.send({ cmd: 'publish', topic: 'a/+', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    await client.waitClosed();
  });

  it('MQTT 5: a PUBLISH with a wildcard topic gets DISCONNECT 0x90', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'wildpub5', protocolVersion: 5 });
    client.send({ cmd: 'publish', topic: 'a/#', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x90 });
    await client.waitClosed();
  });

  it('MQTT 5: UNSUBACK reason codes are 0x00 for removed and 0x11 for no subscription', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'unsub5raw', protocolVersion: 5 });
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'u/a', qos: 0 }] });
    await client.next('suback');
    client.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['u/a', 'u/b'] });
    expect(await client.next('unsuback')).toMatchObject({ messageId: 2, granted: [0, 0x11] });
  });
});

describe.each([4, 5] as const)('PUBLISH and SUBSCRIBE, either version (protocol level %i)', (protocolVersion) => {
  // A broker per version: one run's client ids never meet the other's.
  const tb = useBroker();

  it('[3.1.1 MQTT-3.8.4-6] [5.0 MQTT-3.8.4-8] delivers at min(published QoS, granted QoS)', async () => {
    const sub = await connectClient(tb.url, { clientId: 'minqos', protocolVersion });
    const collector = new MessageCollector(sub);
    const granted = await sub.subscribeAsync({ 'mq/0': { qos: 0 }, 'mq/1': { qos: 1 } });
    expect(granted.map((g) => g.qos)).toEqual([0, 1]);
    const pub = await connectClient(tb.url, { clientId: 'minqos-pub', protocolVersion });
    await pub.publishAsync('mq/0', 'a', { qos: 2 });
    await pub.publishAsync('mq/1', 'b', { qos: 2 });
    await pub.publishAsync('mq/1', 'c', { qos: 0 });
    const messages = await collector.waitFor(3);
    const byPayload = Object.fromEntries(messages.map((m) => [m.payload, m.packet.qos]));
    expect(byPayload).toEqual({ a: 0, b: 1, c: 0 });
  });

  it('[3.1.1 MQTT-4.7.2-1] [5.0 MQTT-4.7.2-1] topics starting with $ are not matched by filters starting with # or +', async () => {
    const sub = await connectClient(tb.url, { clientId: 'dollar', protocolVersion });
    const collector = new MessageCollector(sub);
    await sub.subscribeAsync({ '#': { qos: 0 }, '+/x': { qos: 0 }, '$app/x': { qos: 0 } });
    const pub = await connectClient(tb.url, { clientId: 'dollar-pub', protocolVersion });
    await pub.publishAsync('$app/x', 'dollar', { qos: 1 });
    await pub.publishAsync('plain/x', 'plain', { qos: 1 });
    const messages = await collector.waitFor(2);
    // '$app/x' arrives once (through its literal filter), 'plain/x' once (folded # and +/x).
    expect(messages.map((m) => m.topic).sort()).toEqual(['$app/x', 'plain/x']);
  });

  it('[3.1.1 MQTT-3.10.4-1] [3.1.1 MQTT-3.10.4-2] [3.1.1 MQTT-3.10.4-5] [5.0 MQTT-3.10.4-1] [5.0 MQTT-3.10.4-2] [5.0 MQTT-3.10.4-5] unsubscribe stops delivery; UNSUBACK even with nothing to remove', async () => {
    const sub = await connectClient(tb.url, { clientId: 'unsub', protocolVersion });
    const collector = new MessageCollector(sub);
    await sub.subscribeAsync('us/a', { qos: 1 });
    const unsuback = await sub.unsubscribeAsync(['us/a', 'us/none']);
    expect((unsuback as unknown as { reasonCode?: number[] } | undefined)?.reasonCode ?? [0, 0x11]).toEqual([0, 0x11]);
    await sub.subscribeAsync('us/marker', { qos: 1 });
    const pub = await connectClient(tb.url, { clientId: 'unsub-pub', protocolVersion });
    await pub.publishAsync('us/a', 'gone', { qos: 1 });
    await pub.publishAsync('us/marker', 'marker', { qos: 1 });
    const messages = await collector.waitFor(1);
    expect(messages.map((m) => m.payload)).toEqual(['marker']);
  });

  it('[3.1.1 MQTT-3.3.1-3] [5.0 MQTT-3.3.1-3] the DUP flag of an incoming PUBLISH is not propagated', async () => {
    const sub = await connectClient(tb.url, { clientId: 'dupsub', protocolVersion });
    const collector = new MessageCollector(sub);
    await sub.subscribeAsync('dup/t', { qos: 1 });
    const raw = await RawClient.connect(tb.port, { clientId: 'duppub', protocolVersion });
    raw.send({ cmd: 'publish', topic: 'dup/t', payload: Buffer.from('d'), qos: 1, messageId: 9, retain: false, dup: true });
    expect(await raw.next('puback')).toMatchObject({ messageId: 9 });
    const [msg] = await collector.waitFor(1);
    expect(msg!.packet.dup).toBe(false);
  });

  it('[3.1.1 MQTT-4.6.0-6] [5.0 MQTT-4.6.0-5] keeps the order of one publisher’s messages on a topic', async () => {
    const sub = await connectClient(tb.url, { clientId: 'order', protocolVersion });
    const collector = new MessageCollector(sub);
    await sub.subscribeAsync('order/t', { qos: 1 });
    const pub = await connectClient(tb.url, { clientId: 'order-pub', protocolVersion });
    const count = 500;
    await Promise.all(Array.from({ length: count }, (_, i) => pub.publishAsync('order/t', String(i), { qos: 1 })));
    const messages = await collector.waitFor(count);
    expect(messages.map((m) => Number(m.payload))).toEqual(Array.from({ length: count }, (_, i) => i));
  });

  it('[3.1.1 MQTT-3.12.4-1] [5.0 MQTT-3.12.4-1] answers PINGREQ with PINGRESP', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'pinger', protocolVersion });
    client.send({ cmd: 'pingreq' });
    expect(await client.next('pingresp')).toMatchObject({ cmd: 'pingresp' });
  });

  it('[3.1.1 MQTT-2.3.1-4] [5.0 MQTT-2.2.1-4] outgoing QoS 1 packet ids are not reused while in flight', async () => {
    const sub = await RawClient.connect(tb.port, { clientId: 'ids', protocolVersion });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ids/t', qos: 1 }] });
    await sub.next('suback');
    const pub = await connectClient(tb.url, { clientId: 'ids-pub', protocolVersion });
    for (let i = 0; i < 20; i++) await pub.publishAsync('ids/t', String(i), { qos: 1 });
    // The raw subscriber never acks: every id it holds must be distinct and non-zero.
    const ids = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const p = (await sub.next('publish')) as IPublishPacket;
      expect(p.messageId).toBeGreaterThan(0);
      ids.add(p.messageId!);
    }
    expect(ids.size).toBe(20);
  });
});
