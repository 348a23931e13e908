import { describe, expect, it } from 'vitest';
import type { IPublishPacket } from 'mqtt-packet';
import { useBroker } from '../helpers/broker.js';
import { connectClient, MessageCollector, RawClient } from '../helpers/clients.js';

describe.each([4, 5] as const)('QoS 2 exactly once (protocol level %i)', (protocolVersion) => {
  // A broker per version: one run's client ids never meet the other's.
  const tb = useBroker();

  it('[3.1.1 MQTT-4.3.3-2] [5.0 MQTT-4.3.3-10] [5.0 MQTT-4.3.3-11] [5.0 MQTT-4.3.3-12] a resent PUBLISH with the same id before PUBREL is acknowledged but not delivered twice', async () => {
    const sub = await connectClient(tb.url, { clientId: 'q2sub', protocolVersion });
    const collector = new MessageCollector(sub);
    await sub.subscribeAsync('q2/t', { qos: 2 });
    const pub = await RawClient.connect(tb.port, { clientId: 'q2pub', protocolVersion });
    const publish = { cmd: 'publish', topic: 'q2/t', payload: Buffer.from('once'), qos: 2, messageId: 42, retain: false, dup: false } as const;
    pub.send(publish);
    expect(await pub.next('pubrec')).toMatchObject({ messageId: 42 });
    pub.send({ ...publish, dup: true });
    expect(await pub.next('pubrec')).toMatchObject({ messageId: 42 });
    pub.send({ cmd: 'pubrel', messageId: 42 });
    expect(await pub.next('pubcomp')).toMatchObject({ messageId: 42 });
    // After PUBCOMP the id is free: the same id is a new message [3.1.1 MQTT-4.3.3-2] [5.0 MQTT-4.3.3-12].
    pub.send({ ...publish, payload: Buffer.from('twice') });
    expect(await pub.next('pubrec')).toMatchObject({ messageId: 42 });
    pub.send({ cmd: 'pubrel', messageId: 42 });
    await pub.next('pubcomp');
    const messages = await collector.waitFor(2);
    expect(messages.map((m) => m.payload)).toEqual(['once', 'twice']);
  });

  it('[3.1.1 MQTT-4.3.3-1] [5.0 MQTT-4.3.3-4] [5.0 MQTT-4.3.3-5] [5.0 MQTT-4.3.3-6] outgoing QoS 2: PUBLISH, PUBREC → PUBREL, PUBCOMP frees the id', async () => {
    const sub = await RawClient.connect(tb.port, { clientId: 'q2raw', protocolVersion });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q2/out', qos: 2 }] });
    await sub.next('suback');
    const pub = await connectClient(tb.url, { clientId: 'q2out-pub', protocolVersion });
    await pub.publishAsync('q2/out', 'x', { qos: 2 });
    const publish = (await sub.next('publish')) as IPublishPacket;
    expect(publish).toMatchObject({ qos: 2, dup: false });
    sub.send({ cmd: 'pubrec', messageId: publish.messageId! });
    expect(await sub.next('pubrel')).toMatchObject({ messageId: publish.messageId });
    // A repeated PUBREC gets the PUBREL again, never the PUBLISH.
    sub.send({ cmd: 'pubrec', messageId: publish.messageId! });
    expect(await sub.next('pubrel')).toMatchObject({ messageId: publish.messageId });
    sub.send({ cmd: 'pubcomp', messageId: publish.messageId! });
    const session = tb.broker.admin.session('q2raw')!;
    await expect.poll(() => session.inflightCount).toBe(0);
    expect(sub.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
  });

  it('a PUBREL for an unknown id is answered with PUBCOMP (5.0: 0x92)', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'rel', protocolVersion });
    client.send({ cmd: 'pubrel', messageId: 77 });
    expect(await client.next('pubcomp')).toMatchObject(protocolVersion === 5 ? { messageId: 77, reasonCode: 0x92 } : { messageId: 77 });
  });
});
