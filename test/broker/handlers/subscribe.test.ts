/** SUBSCRIBE → SUBACK and UNSUBSCRIBE → UNSUBACK, over an in-memory duplex. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReasonCode } from '../../../src/protocol/index.js';
import { startStreamBroker, type StreamBroker } from '../../helpers/stream-broker.js';

let sb: StreamBroker;
beforeAll(async () => {
  sb = await startStreamBroker({ limits: { maxSubscriptionsPerClient: 2 } });
});
afterAll(() => sb?.close());

describe('SUBSCRIBE', () => {
  it('[5.0 MQTT-3.9.3-1] one code per filter, in order: granted QoS, 0x8F for an invalid filter, 0x97 over the quota', async () => {
    const { client } = await sb.connect('sub-codes', 5);
    client.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'a', qos: 1 }, { topic: 'b/#/c', qos: 0 }, { topic: 'c', qos: 2 }, { topic: 'd', qos: 0 }] });
    const suback = await client.next('suback');
    expect(suback).toMatchObject({ messageId: 3, granted: [1, ReasonCode.TopicFilterInvalid, 2, ReasonCode.QuotaExceeded] });
    client.end();
  });

  it('[3.1.1 MQTT-3.9.3-2] a 3.1.1 client gets 0x80 for a refused filter', async () => {
    const { client } = await sb.connect('sub-v4', 4);
    client.send({ cmd: 'subscribe', messageId: 4, subscriptions: [{ topic: 'x/#/y', qos: 1 }, { topic: 'ok', qos: 1 }] });
    expect((await client.next('suback'))?.granted).toEqual([0x80, 1]);
    client.end();
  });

  it('[3.1.1 MQTT-3.3.1-6] the retained messages a new subscription matches come after the SUBACK, Retain set', async () => {
    const { client: publisher } = await sb.connect('retainer', 4);
    publisher.send({ cmd: 'publish', topic: 'kept/1', payload: Buffer.from('r'), qos: 1, retain: true, dup: false, messageId: 1 });
    await publisher.next('puback');
    const { client } = await sb.connect('sub-retained', 4);
    client.send({ cmd: 'subscribe', messageId: 5, subscriptions: [{ topic: 'kept/+', qos: 1 }] });
    await client.next('suback');
    expect(await client.next('publish')).toMatchObject({ topic: 'kept/1', retain: true, qos: 1 });
    expect(sb.broker.admin.retained('kept/1')?.payload.toString()).toBe('r');
    publisher.end();
    client.end();
  });

  it('a Subscription Identifier of 0 is a protocol error', async () => {
    const { client } = await sb.connect('sub-id0', 5);
    client.send({ cmd: 'subscribe', messageId: 6, subscriptions: [{ topic: 'a', qos: 0 }], properties: { subscriptionIdentifier: 0 } });
    const reply = await client.next();
    // mqtt-packet may refuse to write id 0 itself; what arrives is never a SUBACK.
    expect(reply?.cmd).not.toBe('suback');
  });
});

describe('UNSUBSCRIBE', () => {
  it('[5.0 MQTT-3.11.3-1] 0x00 for a filter that existed, 0x11 for one that did not', async () => {
    const { client } = await sb.connect('unsub', 5);
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'u/1', qos: 0 }] });
    await client.next('suback');
    client.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['u/1', 'u/2'] });
    expect((await client.next('unsuback'))?.granted).toEqual([ReasonCode.Success, ReasonCode.NoSubscriptionExisted]);
    expect(sb.broker.admin.session('unsub')?.subscriptions.size).toBe(0);
    client.end();
  });
});
