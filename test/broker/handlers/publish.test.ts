/** PUBLISH from a client, over an in-memory duplex: acknowledgements and their reason codes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReasonCode } from '../../../src/protocol/index.js';
import { startStreamBroker, type StreamBroker } from '../../helpers/stream-broker.js';

let sb: StreamBroker;
beforeAll(async () => {
  sb = await startStreamBroker();
});
afterAll(() => sb?.close());

const publish = (topic: string, qos: 0 | 1 | 2, messageId?: number, extra: Record<string, unknown> = {}) =>
  ({ cmd: 'publish', topic, payload: Buffer.from('hello'), qos, retain: false, dup: false, ...(messageId === undefined ? {} : { messageId }), ...extra }) as const;

describe('PUBLISH', () => {
  it('[5.0 MQTT-3.4.2-1] QoS 1 with no subscriber: PUBACK 0x10 No matching subscribers, no reason string', async () => {
    const { client } = await sb.connect('pub-1', 5);
    client.send(publish('nobody/here', 1, 7));
    const puback = await client.next('puback');
    expect(puback).toMatchObject({ messageId: 7, reasonCode: ReasonCode.NoMatchingSubscribers });
    expect(puback?.properties?.reasonString).toBeUndefined();
    client.end();
  });

  it('QoS 1 reaches a subscriber, and the publisher gets PUBACK 0x00', async () => {
    const { client: subscriber } = await sb.connect('sub-1', 5);
    subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'news/+', qos: 1 }] });
    await subscriber.next('suback');
    const { client } = await sb.connect('pub-2', 5);
    client.send(publish('news/a', 1, 8));
    expect((await client.next('puback'))?.reasonCode).toBe(ReasonCode.Success);
    const delivered = await subscriber.next('publish');
    expect(delivered).toMatchObject({ topic: 'news/a', qos: 1 });
    expect(delivered?.payload.toString()).toBe('hello');
    subscriber.end();
    client.end();
  });

  it('a publish to $SYS is refused with 0x87 and a reason string', async () => {
    const { client } = await sb.connect('pub-sys', 5);
    client.send(publish('$SYS/fake', 1, 9));
    const puback = await client.next('puback');
    expect(puback?.reasonCode).toBe(ReasonCode.NotAuthorized);
    expect(puback?.properties?.reasonString).toMatch(/not authorized/);
    client.end();
  });

  it('[5.0 MQTT-3.1.2-29] no reason string for a client that asked for no problem information', async () => {
    const { client } = await sb.connect('pub-quiet', 5, { properties: { requestProblemInformation: false } });
    client.send(publish('$SYS/fake', 2, 10));
    const pubrec = await client.next('pubrec');
    expect(pubrec?.reasonCode).toBe(ReasonCode.NotAuthorized);
    expect(pubrec?.properties?.reasonString).toBeUndefined();
    client.end();
  });

  it('[3.1.1 MQTT-3.3.1-2] DUP set on QoS 0 closes a 3.1.1 connection', async () => {
    const { client } = await sb.connect('pub-dup', 4);
    client.send(publish('t', 0, undefined, { dup: true }));
    await client.closed();
    expect(sb.broker.admin.isConnected('pub-dup')).toBe(false);
  });

  it('[5.0 MQTT-3.3.2-8] topic alias 0 is answered with DISCONNECT 0x94', async () => {
    const { client } = await sb.connect('pub-alias', 5);
    client.send(publish('t', 0, undefined, { properties: { topicAlias: 0 } }));
    expect((await client.next('disconnect'))?.reasonCode).toBe(ReasonCode.TopicAliasInvalid);
    await client.closed();
  });
});
