import { describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/broker.js';
import { connectClient, MessageCollector } from '../helpers/clients.js';

describe.each([4, 5] as const)('retained messages (protocol level %i)', (protocolVersion) => {
  // A broker per version: one run's client ids and retained topics never meet the other's.
  const tb = useBroker();

  it('[3.1.1 MQTT-3.3.1-5] [3.1.1 MQTT-3.3.1-6] [3.1.1 MQTT-3.3.1-8] [5.0 MQTT-3.3.1-5] [5.0 MQTT-3.3.1-9] a new subscription gets the retained message with RETAIN set', async () => {
    const pub = await connectClient(tb.url, { clientId: 'rpub1', protocolVersion });
    await pub.publishAsync('r1/a', 'first', { qos: 1, retain: true });
    await pub.publishAsync('r1/a', 'second', { qos: 1, retain: true });
    const sub = await connectClient(tb.url, { clientId: 'rsub1', protocolVersion });
    const collector = new MessageCollector(sub);
    await sub.subscribeAsync('r1/+', { qos: 1 });
    const [msg] = await collector.waitFor(1);
    expect(msg).toMatchObject({ topic: 'r1/a', payload: 'second' });
    expect(msg!.packet.retain).toBe(true);
    expect(msg!.packet.qos).toBe(1);
  });

  it('[3.1.1 MQTT-3.3.1-9] [5.0 MQTT-3.3.1-12] a message forwarded to an established subscription has RETAIN cleared', async () => {
    const sub = await connectClient(tb.url, { clientId: 'rsub2', protocolVersion });
    const collector = new MessageCollector(sub);
    await sub.subscribeAsync('r2/#', { qos: 1 });
    const pub = await connectClient(tb.url, { clientId: 'rpub2', protocolVersion });
    await pub.publishAsync('r2/a', 'live', { qos: 1, retain: true });
    const [msg] = await collector.waitFor(1);
    expect(msg!.packet.retain).toBe(false);
  });

  it('[3.1.1 MQTT-3.3.1-10] [3.1.1 MQTT-3.3.1-11] [5.0 MQTT-3.3.1-6] [5.0 MQTT-3.3.1-7] an empty retained payload deletes the retained message', async () => {
    const pub = await connectClient(tb.url, { clientId: 'rpub3', protocolVersion });
    await pub.publishAsync('r3/a', 'kept', { qos: 1, retain: true });
    await pub.publishAsync('r3/b', 'to-delete', { qos: 1, retain: true });
    await pub.publishAsync('r3/b', '', { qos: 1, retain: true });
    expect(tb.broker.admin.retained('r3/b')).toBeUndefined();
    const sub = await connectClient(tb.url, { clientId: 'rsub3', protocolVersion });
    const collector = new MessageCollector(sub);
    await sub.subscribeAsync('r3/#', { qos: 1 });
    await pub.publishAsync('r3/marker', 'end', { qos: 1 });
    const messages = await collector.waitFor(2);
    expect(messages.map((m) => m.payload)).toEqual(['kept', 'end']);
  });

  it('[3.1.1 MQTT-3.3.1-12] [5.0 MQTT-3.3.1-8] a non-retained publish leaves the retained message alone', async () => {
    const pub = await connectClient(tb.url, { clientId: 'rpub4', protocolVersion });
    await pub.publishAsync('r4/a', 'retained', { qos: 1, retain: true });
    await pub.publishAsync('r4/a', 'not retained', { qos: 1, retain: false });
    expect(tb.broker.admin.retained('r4/a')?.payload.toString()).toBe('retained');
  });

  it('[3.1.1 MQTT-3.8.4-3] [5.0 MQTT-3.8.4-3] [5.0 MQTT-3.8.4-4] every matching filter of a SUBSCRIBE gets the retained messages; a repeat subscription re-sends them', async () => {
    const pub = await connectClient(tb.url, { clientId: 'rpub5', protocolVersion });
    await pub.publishAsync('r5/x/y', 'r', { qos: 0, retain: true });
    const sub = await connectClient(tb.url, { clientId: 'rsub5', protocolVersion });
    const collector = new MessageCollector(sub);
    await sub.subscribeAsync('r5/x/y', { qos: 0 });
    await collector.waitFor(1);
    await sub.subscribeAsync('r5/x/y', { qos: 1 });
    const messages = await collector.waitFor(2);
    expect(messages.every((m) => m.packet.retain)).toBe(true);
  });

  it('[3.1.1 MQTT-4.7.2-1] [5.0 MQTT-4.7.2-1] a retained $-topic is not sent to a # subscriber', async () => {
    const pub = await connectClient(tb.url, { clientId: 'rpub6', protocolVersion });
    await pub.publishAsync('$r6/a', 'hidden', { qos: 1, retain: true });
    await pub.publishAsync('r6/a', 'shown', { qos: 1, retain: true });
    const sub = await connectClient(tb.url, { clientId: 'rsub6', protocolVersion });
    const collector = new MessageCollector(sub);
    await sub.subscribeAsync('#', { qos: 0 });
    await sub.subscribeAsync('r6/end', { qos: 0 });
    await pub.publishAsync('r6/end', 'end', { qos: 1 });
    await expect.poll(() => collector.messages.some((m) => m.topic === 'r6/end')).toBe(true);
    // "#" may carry other tests' retained topics; never the $ one.
    expect(collector.messages.map((m) => m.topic)).not.toContain('$r6/a');
    expect(collector.messages.map((m) => m.topic)).toContain('r6/a');
  });
});
