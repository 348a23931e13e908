/** QoS 2 from a client: PUBREC, then PUBREL → PUBCOMP, over an in-memory duplex. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReasonCode } from '../../../src/protocol/index.js';
import { startStreamBroker, type StreamBroker } from '../../helpers/stream-broker.js';

let sb: StreamBroker;
beforeAll(async () => {
  sb = await startStreamBroker();
});
afterAll(() => sb?.close());

describe('PUBREL', () => {
  it('the id of a PUBLISH awaiting release: PUBCOMP 0x00, then the id is free again', async () => {
    const { client } = await sb.connect('qos2', 5);
    client.send({ cmd: 'publish', topic: 'q2', payload: Buffer.from('x'), qos: 2, retain: false, dup: false, messageId: 11 });
    expect((await client.next('pubrec'))?.messageId).toBe(11);
    expect(sb.broker.admin.session('qos2')?.hasIncomingQos2(11)).toBe(true);
    client.send({ cmd: 'pubrel', messageId: 11 });
    expect(await client.next('pubcomp')).toMatchObject({ messageId: 11, reasonCode: ReasonCode.Success });
    expect(sb.broker.admin.session('qos2')?.hasIncomingQos2(11)).toBe(false);
    client.end();
  });

  it('[5.0 MQTT-3.7.2-1] an unknown id: PUBCOMP 0x92 Packet Identifier not found', async () => {
    const { client } = await sb.connect('qos2-unknown', 5);
    client.send({ cmd: 'pubrel', messageId: 99 });
    expect(await client.next('pubcomp')).toMatchObject({ messageId: 99, reasonCode: ReasonCode.PacketIdentifierNotFound });
    client.end();
  });

  it('[3.1.1 MQTT-4.3.3-2] a resend of an id awaiting PUBREL is not routed twice', async () => {
    const { client: subscriber } = await sb.connect('qos2-sub', 4);
    subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'once', qos: 0 }] });
    await subscriber.next('suback');
    const { client } = await sb.connect('qos2-pub', 4);
    client.send({ cmd: 'publish', topic: 'once', payload: Buffer.from('1'), qos: 2, retain: false, dup: false, messageId: 5 });
    await client.next('pubrec');
    client.send({ cmd: 'publish', topic: 'once', payload: Buffer.from('1'), qos: 2, retain: false, dup: true, messageId: 5 });
    await client.next('pubrec');
    client.send({ cmd: 'pubrel', messageId: 5 });
    await client.next('pubcomp');
    // A PINGREQ round trip orders the check after anything the subscriber could still receive.
    subscriber.send({ cmd: 'pingreq' });
    expect((await subscriber.next('publish'))?.payload.toString()).toBe('1');
    expect(await subscriber.next('pingresp')).toBeDefined();
    subscriber.end();
    client.end();
  });
});
