/**
 * Malformed and disallowed packets end the connection as the spec says: MQTT 5 with DISCONNECT
 * 0x81 (Malformed Packet) or 0x82 (Protocol Error) first [5.0 MQTT-4.13.1-1], MQTT 3.1.1 by
 * closing [3.1.1 MQTT-4.8.0-1]. Each case is a raw packet no client library would send; each was
 * answered, ignored or accepted before (found by Mosquitto's broker test suite run against Midge).
 */
import { describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/broker.js';
import { connectClient, MessageCollector, RawClient } from '../helpers/clients.js';
import { connectFrame, frame, props, str, u16, u32 } from '../helpers/raw-frames.js';

const tb = useBroker();
let serial = 0;

async function connected(version: 4 | 5): Promise<RawClient> {
  return RawClient.connect(tb.port, { clientId: `malformed-${version}-${serial++}`, protocolVersion: version });
}

/** 5.0: DISCONNECT with `code`, then the close; 3.1.1: the close, with nothing sent before it. */
async function expectClosedWith(client: RawClient, version: 4 | 5, code: 0x81 | 0x82): Promise<void> {
  if (version === 5) expect(await client.next('disconnect')).toMatchObject({ reasonCode: code });
  await client.waitClosed();
  expect(client.packets.map((p) => p.cmd)).toEqual([]);
}

/** The bystander check: after the abuse the broker still routes a message. */
async function expectStillServing(): Promise<void> {
  const sub = await connectClient(tb.url, { clientId: `bystander-${serial++}` });
  const collector = new MessageCollector(sub);
  await sub.subscribeAsync('alive', { qos: 1 });
  await sub.publishAsync('alive', 'yes', { qos: 1 });
  await collector.waitFor(1);
}

const ACKS = [
  ['PUBACK', 0x40],
  ['PUBREC', 0x50],
  ['PUBREL', 0x62],
  ['PUBCOMP', 0x70],
] as const;

describe.each([4, 5] as const)('malformed acknowledgements, protocol level %i [3.1.1 MQTT-4.8.0-1] [5.0 MQTT-4.13.1-1]', (version) => {
  it.each(ACKS)('%s with remaining length 0 or 1 closes the connection', async (_name, type) => {
    for (const body of [[], [0x00]]) {
      const client = await connected(version);
      client.writeBytes(frame(type, body));
      await expectClosedWith(client, version, 0x81);
    }
  });

  it.each(ACKS)('%s with a body longer than its fields closes the connection', async (_name, type) => {
    const client = await connected(version);
    // 3.1.1: anything but 2 bytes; 5.0: a Success reason code, empty properties, then a stray byte.
    client.writeBytes(frame(type, version === 4 ? [0x00, 0x01, 0x00] : [0x00, 0x01, 0x00, 0x00, 0x07]));
    await expectClosedWith(client, version, 0x81);
  });
});

describe('malformed MQTT 5 acknowledgement properties [5.0 MQTT-4.13.1-1]', () => {
  it.each(ACKS)('%s with a property not allowed in it (Session Expiry Interval) gets DISCONNECT 0x81', async (_name, type) => {
    const client = await connected(5);
    client.writeBytes(frame(type, [0x00, 0x01, 0x00, ...props([0x11, ...u32(10)])]));
    await expectClosedWith(client, 5, 0x81);
  });

  it.each(ACKS)('%s with a truncated Reason String gets DISCONNECT 0x81', async (_name, type) => {
    const client = await connected(5);
    // The string says 10 bytes; 2 follow.
    client.writeBytes(frame(type, [0x00, 0x01, 0x00, ...props([0x1f, 0x00, 0x0a, 0x61, 0x62])]));
    await expectClosedWith(client, 5, 0x81);
  });

  it.each(ACKS)('%s whose property length runs past the packet gets DISCONNECT 0x81', async (_name, type) => {
    const client = await connected(5);
    client.writeBytes(frame(type, [0x00, 0x01, 0x00, 0x09, 0x1f]));
    await expectClosedWith(client, 5, 0x81);
  });

  it.each(ACKS)('%s with the Reason String twice gets DISCONNECT 0x82', async (_name, type) => {
    const client = await connected(5);
    client.writeBytes(frame(type, [0x00, 0x01, 0x00, ...props([0x1f, ...str('a')], [0x1f, ...str('b')])]));
    await expectClosedWith(client, 5, 0x82);
  });
});

describe.each([4, 5] as const)('wrong acknowledgement for a delivery, protocol level %i', (version) => {
  it('PUBCOMP for the packet identifier of a QoS 1 delivery closes the connection (5.0: 0x82)', async () => {
    const client = await connected(version);
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `q1/${version}`, qos: 1 }] });
    await client.next('suback');
    const publisher = await connectClient(tb.url, { clientId: `q1-pub-${version}` });
    await publisher.publishAsync(`q1/${version}`, 'x', { qos: 1 });
    const publish = await client.next('publish');
    client.writeBytes([0x70, 0x02, ...u16(publish.messageId!)]);
    await expectClosedWith(client, version, 0x82);
  });
});

describe.each([4, 5] as const)('SUBSCRIBE and UNSUBSCRIBE, protocol level %i', (version) => {
  const noProps = version === 5 ? [0x00] : [];
  const code = (v5: 0x81 | 0x82): 0x81 | 0x82 => v5;

  it('[3.1.1 MQTT-3.8.3-3] [5.0 MQTT-3.8.3-2] SUBSCRIBE without a topic filter closes the connection (5.0: 0x82)', async () => {
    const client = await connected(version);
    client.writeBytes(frame(0x82, [...u16(1), ...noProps]));
    await expectClosedWith(client, version, code(0x82));
  });

  it('[3.1.1 MQTT-3.10.3-2] [5.0 MQTT-3.10.3-2] UNSUBSCRIBE without a topic filter closes the connection (5.0: 0x82)', async () => {
    const client = await connected(version);
    client.writeBytes(frame(0xa2, [...u16(1), ...noProps]));
    await expectClosedWith(client, version, code(0x82));
  });

  it('[3.1.1 MQTT-2.3.1-1] SUBSCRIBE, UNSUBSCRIBE and QoS 1 PUBLISH with packet identifier 0 close the connection (5.0: 0x82)', async () => {
    for (const packet of [
      frame(0x82, [...u16(0), ...noProps, ...str('a'), 0x00]),
      frame(0xa2, [...u16(0), ...noProps, ...str('a')]),
      frame(0x32, [...str('a'), ...u16(0), ...noProps, 0x78]),
    ]) {
      const client = await connected(version);
      client.writeBytes(packet);
      await expectClosedWith(client, version, 0x82);
    }
  });

  it('[3.1.1 MQTT-4.7.3-1] [5.0 MQTT-4.7.3-1] an empty topic filter in SUBSCRIBE or UNSUBSCRIBE closes the connection (5.0: 0x81)', async () => {
    for (const packet of [frame(0x82, [...u16(3), ...noProps, ...str(''), 0x00]), frame(0xa2, [...u16(3), ...noProps, ...str('')])]) {
      const client = await connected(version);
      client.writeBytes(packet);
      await expectClosedWith(client, version, 0x81);
    }
  });

  it('[3.1.1 MQTT-1.5.3-2] [5.0 MQTT-1.5.4-2] a topic filter containing U+0000 closes the connection (5.0: 0x81)', async () => {
    const client = await connected(version);
    client.writeBytes(frame(0x82, [...u16(4), ...noProps, ...str([0x61, 0x00, 0x62]), 0x00]));
    await expectClosedWith(client, version, 0x81);
  });

  it('[3.1.1 MQTT-1.5.3-1] [5.0 MQTT-1.5.4-1] a topic filter encoding a surrogate (ED A0 80) closes the connection (5.0: 0x81)', async () => {
    const client = await connected(version);
    client.writeBytes(frame(0xa2, [...u16(5), ...noProps, ...str([0x61, 0xed, 0xa0, 0x80])]));
    await expectClosedWith(client, version, 0x81);
  });

  it('[3.1.1 MQTT-3.8.3-4] [5.0 MQTT-3.8.3-5] reserved bits in the subscription options close the connection (5.0: 0x81)', async () => {
    const client = await connected(version);
    client.writeBytes(frame(0x82, [...u16(6), ...noProps, ...str('a'), version === 5 ? 0x40 : 0x04]));
    await expectClosedWith(client, version, 0x81);
  });
});

describe('MQTT 5 SUBSCRIBE properties [5.0 MQTT-4.13.1-1]', () => {
  it('SUBSCRIBE without its property length gets DISCONNECT 0x81', async () => {
    const client = await connected(5);
    client.writeBytes(frame(0x82, u16(1)));
    await expectClosedWith(client, 5, 0x81);
  });

  it('a Session Expiry Interval in SUBSCRIBE (not allowed there) gets DISCONNECT 0x81', async () => {
    const client = await connected(5);
    client.writeBytes(frame(0x82, [...u16(1), ...props([0x11, ...u32(5)]), ...str('a'), 0x00]));
    await expectClosedWith(client, 5, 0x81);
  });

  it('Retain Handling 3 gets DISCONNECT 0x82', async () => {
    const client = await connected(5);
    client.writeBytes(frame(0x82, [...u16(1), 0x00, ...str('a'), 0x30]));
    await expectClosedWith(client, 5, 0x82);
  });
});

describe('MQTT 5 PUBLISH properties [5.0 MQTT-4.13.1-1]', () => {
  const publish = (properties: number[]): Buffer => frame(0x32, [...str('p/t'), ...u16(7), ...properties, 0x78]);

  it.each([
    ['Content Type', [0x03, ...str('a')], [0x03, ...str('b')]],
    ['Topic Alias', [0x23, ...u16(1)], [0x23, ...u16(2)]],
    ['Message Expiry Interval', [0x02, ...u32(5)], [0x02, ...u32(6)]],
    ['Payload Format Indicator', [0x01, 0x00], [0x01, 0x01]],
    ['Response Topic', [0x08, ...str('r')], [0x08, ...str('r')]],
    ['Correlation Data', [0x09, ...str('c')], [0x09, ...str('c')]],
  ])('%s given twice gets DISCONNECT 0x82', async (_name, first, second) => {
    const client = await connected(5);
    client.writeBytes(publish(props(first, second)));
    await expectClosedWith(client, 5, 0x82);
  });

  it('a truncated Message Expiry Interval (2 of 4 bytes) gets DISCONNECT 0x81', async () => {
    const client = await connected(5);
    client.writeBytes(publish([0x03, 0x02, 0x00, 0x00]));
    await expectClosedWith(client, 5, 0x81);
  });

  it('a Session Expiry Interval in PUBLISH (not allowed there) gets DISCONNECT 0x81', async () => {
    const client = await connected(5);
    client.writeBytes(publish(props([0x11, ...u32(5)])));
    await expectClosedWith(client, 5, 0x81);
  });

  it.each([
    ['[5.0 MQTT-1.5.7-1] a User Property name with U+0000', [0x26, 0x00, 0x02, 0x61, 0x00, 0x00, 0x01, 0x62]],
    ['[5.0 MQTT-1.5.7-1] a User Property value encoding a surrogate', [0x26, 0x00, 0x01, 0x61, 0x00, 0x03, 0xed, 0xa0, 0x80]],
    ['[5.0 MQTT-3.3.2-13] a Response Topic with ill-formed UTF-8', [0x08, 0x00, 0x02, 0x61, 0xc3]],
    ['[5.0 MQTT-3.3.2-19] a Content Type with U+0000', [0x03, 0x00, 0x02, 0x61, 0x00]],
  ])('%s gets DISCONNECT 0x81', async (_name, property) => {
    const client = await connected(5);
    client.writeBytes(publish(props(property)));
    await expectClosedWith(client, 5, 0x81);
  });

  it('[5.0 MQTT-3.3.2-14] a Response Topic with a wildcard gets DISCONNECT 0x82', async () => {
    const client = await connected(5);
    client.writeBytes(publish(props([0x08, ...str('reply/+')])));
    await expectClosedWith(client, 5, 0x82);
  });

  it('[5.0 MQTT-4.7.0-1] a topic name with a wildcard gets DISCONNECT 0x90', async () => {
    const client = await connected(5);
    client.writeBytes(frame(0x30, [...str('a/#'), 0x00, 0x78]));
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x90 });
    await client.waitClosed();
  });

  it('[5.0 MQTT-3.14.2-3] a DISCONNECT whose reason string would exceed the client’s Maximum Packet Size goes without it', async () => {
    const client = await RawClient.connect(tb.port, { clientId: `tiny-disc-${serial++}`, protocolVersion: 5, properties: { maximumPacketSize: 30 } });
    const bytes: Buffer[] = [];
    client.socket.on('data', (chunk: Buffer) => bytes.push(chunk));
    client.writeBytes([0xc0, 0x01, 0x00]);
    const disconnect = (await client.next('disconnect')) as { reasonCode: number; properties?: { reasonString?: string } };
    expect(disconnect.reasonCode).toBe(0x81);
    expect(disconnect.properties?.reasonString).toBeUndefined();
    await client.waitClosed();
    expect(Buffer.concat(bytes).length).toBeLessThanOrEqual(30);
  });

  it('an unknown property identifier gets DISCONNECT 0x81', async () => {
    const client = await connected(5);
    client.writeBytes(publish(props([0x7f, 0x00])));
    await expectClosedWith(client, 5, 0x81);
  });

  it('a Payload Format Indicator of 2 or 0xED gets DISCONNECT 0x82, and nothing is forwarded [5.0 MQTT-3.3.2-4]', async () => {
    const subscriber = await connected(5);
    subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'p/t', qos: 0 }] });
    await subscriber.next('suback');
    for (const value of [0x02, 0xed]) {
      const client = await connected(5);
      client.writeBytes(publish(props([0x01, value])));
      await expectClosedWith(client, 5, 0x82);
    }
    // A well-formed one after them is the first thing the subscriber gets, its indicator unaltered.
    const good = await connected(5);
    good.writeBytes(publish(props([0x01, 0x01])));
    const received = (await subscriber.next('publish')) as { properties?: { payloadFormatIndicator?: boolean } };
    expect(received.properties?.payloadFormatIndicator).toBe(true);
    expect(subscriber.packets).toEqual([]);
  });

  it('[5.0 MQTT-1.5.4-2] a topic name containing U+0000 is a Malformed Packet (0x81), not 0x90', async () => {
    for (const packet of [frame(0x30, [...str([0x61, 0x00, 0x62]), 0x00, 0x78]), frame(0x30, [...str([0x61, 0x00, 0x62]), ...props([0x02, ...u32(9)]), 0x78])]) {
      const client = await connected(5);
      client.writeBytes(packet);
      await expectClosedWith(client, 5, 0x81);
    }
  });

  it('[5.0 MQTT-1.5.4-1] a topic name with ill-formed UTF-8 is a Malformed Packet (0x81)', async () => {
    const client = await connected(5);
    client.writeBytes(frame(0x30, [...str([0x61, 0xc3, 0x62]), 0x00, 0x78]));
    await expectClosedWith(client, 5, 0x81);
  });
});

describe.each([4, 5] as const)('PINGREQ, protocol level %i', (version) => {
  it('PINGREQ with a body closes the connection (5.0: 0x81)', async () => {
    const client = await connected(version);
    client.writeBytes([0xc0, 0x01, 0x00]);
    await expectClosedWith(client, version, 0x81);
    await expectStillServing();
  });
});

/** CONNECT refusals: 5.0 answers CONNACK 0x81 and closes [5.0 MQTT-4.13.1-1]; 3.1.1 just closes. */
async function expectConnectRefused(bytes: Buffer, version: 4 | 5): Promise<void> {
  const client = await RawClient.open(tb.port, version);
  client.writeBytes(bytes);
  if (version === 5) expect(await client.next('connack')).toMatchObject({ reasonCode: 0x81 });
  await client.waitClosed();
  expect(client.packets.map((p) => p.cmd)).toEqual([]);
}

describe.each([4, 5] as const)('malformed CONNECT, protocol level %i [3.1.1 MQTT-3.1.4-1] [5.0 MQTT-3.1.4-1] [3.1.1 MQTT-3.2.2-6]', (version) => {
  const id = (): string => `bad-connect-${version}-${serial++}`;

  it('[3.1.1 MQTT-3.1.2-18] a user name present while the User Name Flag is 0 closes the connection', async () => {
    await expectConnectRefused(connectFrame({ version, flags: 0x02, clientId: id(), payloadTail: str('someone') }), version);
  });

  it('[3.1.1 MQTT-3.1.2-20] a password present while the Password Flag is 0 closes the connection', async () => {
    await expectConnectRefused(connectFrame({ version, flags: 0x82, clientId: id(), payloadTail: [...str('user'), ...str('secret')] }), version);
  });

  it('[3.1.1 MQTT-3.1.2-3] [5.0 MQTT-3.1.2-3] the reserved flag set closes the connection', async () => {
    await expectConnectRefused(connectFrame({ version, flags: 0x03, clientId: id() }), version);
  });

  it('[3.1.1 MQTT-1.5.3-2] [5.0 MQTT-1.5.4-2] a user name containing U+0000 closes the connection', async () => {
    await expectConnectRefused(connectFrame({ version, flags: 0x82, clientId: id(), payloadTail: str([0x75, 0x00]) }), version);
  });

  it('[3.1.1 MQTT-1.5.3-1] [5.0 MQTT-1.5.4-1] a user name encoding a surrogate closes the connection', async () => {
    await expectConnectRefused(connectFrame({ version, flags: 0x82, clientId: id(), payloadTail: str([0x75, 0xed, 0xb0, 0x80]) }), version);
  });

  it('a will QoS of 3 closes the connection (3.1.1: no CONNACK at all)', async () => {
    const willProps = version === 5 ? props() : [];
    await expectConnectRefused(connectFrame({ version, flags: 0x1e, clientId: id(), payloadTail: [...willProps, ...str('w'), ...str('x')] }), version);
  });

  it('[3.1.1 MQTT-1.5.3-2] [5.0 MQTT-1.5.4-2] a will topic containing U+0000 closes the connection (5.0: CONNACK 0x81, not 0x90)', async () => {
    const willProps = version === 5 ? props() : [];
    await expectConnectRefused(connectFrame({ version, flags: 0x06, clientId: id(), payloadTail: [...willProps, ...str([0x77, 0x00]), ...str('x')] }), version);
  });
});

describe('what the broker sends', () => {
  it('[5.0 MQTT-3.1.2-24] a client that announced Maximum Packet Size 2 gets no CONNACK (none fits), and is closed', async () => {
    const client = await RawClient.open(tb.port, 5);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'mps-2', clean: true, keepalive: 0, properties: { maximumPacketSize: 2 } });
    await client.waitClosed();
    expect(client.packets).toEqual([]);
  });

  it('an MQTT 3.1 (level 3) client never gets Session Present = 1, a reserved bit there', async () => {
    const connect = { clientId: 'v31-present', protocolVersion: 3, protocolId: 'MQIsdp', clean: false } as const;
    const first = await RawClient.connect(tb.port, connect);
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v31/t', qos: 1 }] });
    await first.next('suback');
    first.send({ cmd: 'disconnect' });
    await first.waitClosed();
    const again = await RawClient.open(tb.port, 3);
    const bytes: Buffer[] = [];
    again.socket.on('data', (chunk: Buffer) => bytes.push(chunk));
    again.send({ cmd: 'connect', ...connect, keepalive: 0 });
    await again.next('connack');
    expect(Buffer.concat(bytes).subarray(0, 4).toString('hex')).toBe('20020000');
    // The session was kept all the same: its subscription still delivers.
    const publisher = await connectClient(tb.url, { clientId: 'v31-pub' });
    await publisher.publishAsync('v31/t', 'kept', { qos: 1 });
    expect(await again.next('publish')).toMatchObject({ topic: 'v31/t' });
  });
});
