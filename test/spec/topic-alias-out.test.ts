/** Outgoing topic aliases (MQTT 5): what Midge sends a client that announced a Topic Alias Maximum. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IPublishPacket } from 'mqtt-packet';
import { startBroker, useBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient, connectCollecting, RawClient } from '../helpers/clients.js';

const tb = useBroker();

async function subscriber(clientId: string, topicAliasMaximum: number | undefined, filter: string, version: 4 | 5 = 5): Promise<RawClient> {
  const client = await RawClient.connect(tb.port, { clientId, protocolVersion: version, ...(version === 5 && topicAliasMaximum !== undefined ? { properties: { topicAliasMaximum } } : {}) });
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 0 }] });
  await client.next('suback');
  return client;
}

async function receive(client: RawClient, count: number): Promise<IPublishPacket[]> {
  const packets: IPublishPacket[] = [];
  for (let i = 0; i < count; i++) packets.push((await client.next('publish')) as IPublishPacket);
  return packets;
}

async function publishAll(topics: string[], qos: 0 | 1 = 1): Promise<void> {
  const publisher = await connectClient(tb.url, { clientId: `alias-pub-${Math.random()}` });
  for (const topic of topics) await publisher.publishAsync(topic, 'v', { qos });
}

describe('outgoing topic aliases', () => {
  it('[5.0 MQTT-3.3.2-8] the first PUBLISH of a topic carries topic and alias, later ones the alias only (never 0)', async () => {
    const client = await subscriber('alias-basic', 4, 'ab/#');
    await publishAll(['ab/1', 'ab/1', 'ab/2', 'ab/1', 'ab/2']);
    const got = (await receive(client, 5)).map((p) => [p.topic, p.properties?.topicAlias]);
    expect(got).toEqual([
      ['ab/1', 1],
      ['', 1],
      ['ab/2', 2],
      ['', 1],
      ['', 2],
    ]);
  });

  it('[5.0 MQTT-3.1.2-26] [5.0 MQTT-3.3.2-11] never an alias above the client’s Topic Alias Maximum; busy topics keep theirs', async () => {
    const client = await subscriber('alias-max', 2, 'am/#');
    // Two busy topics, then a stream of one-off topics: the busy ones keep aliases 1 and 2.
    const topics = ['am/busy1', 'am/busy2', 'am/busy1', 'am/busy2', 'am/busy1', 'am/busy2'];
    for (let i = 0; i < 6; i++) topics.push(`am/once${i}`, 'am/busy1', 'am/busy2');
    await publishAll(topics);
    const got = await receive(client, topics.length);
    const aliases = got.map((p) => p.properties?.topicAlias).filter((a) => a !== undefined);
    expect(Math.max(...aliases)).toBeLessThanOrEqual(2);
    expect(aliases).not.toContain(0);
    // Resolving aliases as the client would gives back every topic in order.
    const table = new Map<number, string>();
    const resolved = got.map((p) => {
      const alias = p.properties?.topicAlias;
      if (alias !== undefined && p.topic !== '') table.set(alias, p.topic);
      return p.topic === '' ? table.get(alias!) : p.topic;
    });
    expect(resolved).toEqual(topics);
    // The one-off topics never displaced the busy ones: these went out with the alias only.
    expect(got.slice(6).filter((p) => p.topic === '').length).toBe(12);
  });

  it('[5.0 MQTT-3.1.2-27] a client that announced 0 or nothing gets no aliases', async () => {
    const none = await subscriber('alias-none', undefined, 'an/#');
    const zero = await subscriber('alias-zero', 0, 'an/#');
    await publishAll(['an/1', 'an/1']);
    for (const client of [none, zero]) {
      for (const packet of await receive(client, 2)) {
        expect(packet.topic).toBe('an/1');
        expect(packet.properties?.topicAlias).toBeUndefined();
      }
    }
  });

  it('3.1.1 clients sharing the fan-out get full topics, from the once-per-message QoS 0 encoding', async () => {
    const aliased = await subscriber('alias-mixed-5', 8, 'mx/#');
    const plainA = await subscriber('alias-mixed-4a', undefined, 'mx/#', 4);
    const plainB = await subscriber('alias-mixed-4b', undefined, 'mx/#', 4);
    // Count the fan-out cache's encodings: one per message for both plain subscribers together.
    const cache = tb.broker.encoder.plainQos0Encodings;
    const originalSet = cache.set.bind(cache);
    let encoded = 0;
    cache.set = (key, value) => {
      encoded++;
      return originalSet(key, value);
    };
    try {
      await publishAll(['mx/t', 'mx/t'], 0);
      expect((await receive(aliased, 2)).map((p) => p.topic)).toEqual(['mx/t', '']);
      for (const plain of [plainA, plainB]) expect((await receive(plain, 2)).map((p) => p.topic)).toEqual(['mx/t', 'mx/t']);
      expect(encoded).toBe(2);
    } finally {
      cache.set = originalSet;
    }
  });

  it('[5.0 MQTT-3.3.2-7] aliases are not carried into the next connection of the same session', async () => {
    const first = await RawClient.connect(tb.port, { clientId: 'alias-reconnect', protocolVersion: 5, clean: false, properties: { topicAliasMaximum: 4, sessionExpiryInterval: 60 } });
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rc/#', qos: 1 }] });
    await first.next('suback');
    await publishAll(['rc/t']);
    expect(await first.next('publish')).toMatchObject({ topic: 'rc/t', properties: { topicAlias: 1 } });
    first.destroy();
    await expect.poll(() => tb.broker.admin.isConnected('alias-reconnect')).toBe(false);
    const again = await RawClient.connect(tb.port, { clientId: 'alias-reconnect', protocolVersion: 5, clean: false, properties: { topicAliasMaximum: 4, sessionExpiryInterval: 60 } });
    await publishAll(['rc/t']);
    // The first PUBLISH on the new connection (the unacknowledged resend, then the new one) names the topic again.
    const packet = (await again.next('publish')) as IPublishPacket;
    expect(packet.topic).toBe('rc/t');
  });

  it('aliases combine with other properties (user properties, message expiry)', async () => {
    const client = await subscriber('alias-props', 4, 'pp/#');
    const publisher = await connectClient(tb.url, { clientId: 'alias-props-pub', protocolVersion: 5 });
    for (let i = 0; i < 2; i++) await publisher.publishAsync('pp/t', `m${i}`, { qos: 1, properties: { userProperties: { k: 'v' }, messageExpiryInterval: 100 } });
    const got = await receive(client, 2);
    expect(got.map((p) => [p.topic, p.properties?.topicAlias, p.payload.toString()])).toEqual([
      ['pp/t', 1, 'm0'],
      ['', 1, 'm1'],
    ]);
    expect(got[1]!.properties?.userProperties).toEqual({ k: 'v' });
  });

  it('MQTT.js (which resolves aliases) receives every topic right', async () => {
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'alias-mqttjs', protocolVersion: 5, properties: { topicAliasMaximum: 2 } });
    await client.subscribeAsync('js/#', { qos: 1 });
    const topics = ['js/a', 'js/b', 'js/a', 'js/c', 'js/a', 'js/b'];
    await publishAll(topics);
    await collector.waitFor(topics.length);
    expect(collector.messages.map((m) => m.topic)).toEqual(topics);
  });
});

describe('outgoing topic aliases configured off', () => {
  let off: TestBroker;
  beforeAll(async () => {
    off = await startBroker({ limits: { outgoingTopicAliasMaximum: 0 } });
  });
  afterAll(async () => {
    await closeAllClients();
    await off.cleanup();
  });

  it('limits.outgoingTopicAliasMaximum 0: no aliases even for a client that accepts them', async () => {
    const client = await RawClient.connect(off.port, { clientId: 'alias-off', protocolVersion: 5, properties: { topicAliasMaximum: 10 } });
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'off/#', qos: 0 }] });
    await client.next('suback');
    const publisher = await connectClient(off.url, { clientId: 'alias-off-pub' });
    await publisher.publishAsync('off/t', 'a', { qos: 1 });
    await publisher.publishAsync('off/t', 'b', { qos: 1 });
    for (let i = 0; i < 2; i++) {
      const packet = (await client.next('publish')) as IPublishPacket;
      expect(packet.topic).toBe('off/t');
      expect(packet.properties?.topicAlias).toBeUndefined();
    }
  });
});
