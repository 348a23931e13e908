/**
 * Server-side statements of MQTT 3.1.1 and 5.0 checked with raw packets, for both versions where
 * a statement binds both (describe.each). Each test cites exactly what its assertions check.
 */
import { describe, expect, it } from 'vitest';
import type { IConnackPacket, IPublishPacket, ISubackPacket, IUnsubackPacket, Packet } from 'mqtt-packet';
import { startBroker, useBroker } from '../helpers/broker.js';
import { connectClient, MessageCollector, RawClient } from '../helpers/clients.js';
import { frame, u16 } from '../helpers/raw-frames.js';
import type { EnhancedAuthenticator } from '../../src/auth/index.js';

const TEST_AUTH: EnhancedAuthenticator = {
  method: 'TEST-CHALLENGE',
  begin: () => {
    let isChallenged = false;
    return {
      step: (data) => {
        if (!isChallenged) {
          isChallenged = true;
          return { status: 'continue', data: Buffer.from('challenge') };
        }
        return data?.toString() === 'answer' ? { status: 'success' } : { status: 'failure', reasonCode: 0x87 };
      },
    };
  },
};

const tb = useBroker(
  {},
  {
    enhancedAuthenticators: [TEST_AUTH],
    authenticator: { authenticate: (c) => (c.username === 'refused' ? { isAccepted: false, reasonCode: 0x86 } : { isAccepted: true }) },
  },
);
let serial = 0;
const uid = (prefix: string): string => `${prefix}-${serial++}`;

type Version = 4 | 5;
const connect = (version: Version, clientId: string, extra: Record<string, unknown> = {}): Promise<RawClient> =>
  RawClient.connect(tb.port, { clientId, protocolVersion: version, ...extra });

async function subscribe(client: RawClient, filter: string, qos: 0 | 1 | 2, extra: Record<string, unknown> = {}): Promise<void> {
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos, ...extra }] } as Packet);
  await client.next('suback');
}

async function publishFrom(topic: string, payload: string, qos: 0 | 1 | 2, options: Record<string, unknown> = {}): Promise<void> {
  const publisher = await connectClient(tb.url, { clientId: uid('pub'), protocolVersion: 5 });
  await publisher.publishAsync(topic, payload, { qos, ...options });
  await publisher.endAsync();
}

/** Bytes the client receives from now on. */
function tapBytes(client: RawClient): () => Buffer {
  const chunks: Buffer[] = [];
  client.socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return () => Buffer.concat(chunks);
}

describe.each([4, 5] as const)('packet identifiers and acknowledgements, protocol level %i', (version) => {
  it('[3.1.1 MQTT-2.3.1-5] [5.0 MQTT-2.2.1-2] [3.1.1 MQTT-3.3.1-2] [5.0 MQTT-3.3.1-2] [3.1.1 MQTT-4.3.1-1] [5.0 MQTT-4.3.1-1] [3.1.1 MQTT-3.3.2-1] [5.0 MQTT-3.3.2-1] [5.0 MQTT-2.2.2-1] a QoS 0 delivery has no packet identifier, DUP 0, the topic as its first field (5.0: and a Property Length of 0)', async () => {
    const sub = await connect(version, uid('q0'));
    await subscribe(sub, `q0/${version}`, 0);
    const bytes = tapBytes(sub);
    await publishFrom(`q0/${version}`, 'x', 0);
    const publish = (await sub.next('publish')) as IPublishPacket;
    expect(publish).toMatchObject({ qos: 0, dup: false, topic: `q0/${version}` });
    expect(publish.messageId).toBeUndefined();
    const raw = bytes();
    expect(raw[0]).toBe(0x30);
    // Topic length, topic, then (5.0) the property length 0, then the payload: no id in between.
    const topic = Buffer.from(`q0/${version}`);
    expect(raw.subarray(2, 4 + topic.length).toString('hex')).toBe(Buffer.concat([Buffer.from(u16(topic.length)), topic]).toString('hex'));
    expect(raw.subarray(4 + topic.length).toString('hex')).toBe((version === 5 ? '00' : '') + Buffer.from('x').toString('hex'));
  });

  it('[3.1.1 MQTT-2.3.1-6] [5.0 MQTT-2.2.1-5] [3.1.1 MQTT-4.3.2-2] [5.0 MQTT-4.3.2-4] [5.0 MQTT-4.3.2-5] a QoS 1 PUBLISH is answered with PUBACK of its id; the same id again is a new message', async () => {
    const watcher = await connectClient(tb.url, { clientId: uid('q1w') });
    const collector = new MessageCollector(watcher);
    await watcher.subscribeAsync(`q1in/${version}`, { qos: 1 });
    const client = await connect(version, uid('q1'));
    for (let i = 0; i < 2; i++) {
      client.send({ cmd: 'publish', topic: `q1in/${version}`, payload: Buffer.from(`m${i}`), qos: 1, messageId: 77, retain: false, dup: false });
      expect(await client.next('puback')).toMatchObject({ messageId: 77 });
    }
    await collector.waitFor(2);
    expect(collector.messages.map((m) => m.payload)).toEqual(['m0', 'm1']);
  });

  it('[3.1.1 MQTT-2.3.1-7] [5.0 MQTT-2.2.1-6] [3.1.1 MQTT-3.8.4-1] [3.1.1 MQTT-3.8.4-2] [5.0 MQTT-3.8.4-1] [5.0 MQTT-3.8.4-2] [3.1.1 MQTT-3.8.4-4] [5.0 MQTT-3.8.4-5] [5.0 MQTT-3.8.4-6] [5.0 MQTT-3.8.4-7] [5.0 MQTT-3.9.3-1] [3.1.1 MQTT-3.9.3-2] [5.0 MQTT-3.9.3-2] one SUBSCRIBE of three filters gets one SUBACK with its id and one code per filter, in order', async () => {
    const client = await connect(version, uid('sub3'));
    client.send({ cmd: 'subscribe', messageId: 9, subscriptions: [{ topic: 's3/a', qos: 1 }, { topic: 's3/#/bad', qos: 0 }, { topic: 's3/c', qos: 2 }] });
    const suback = (await client.next('suback')) as ISubackPacket;
    expect(suback.messageId).toBe(9);
    expect(suback.granted).toEqual([1, version === 5 ? 0x8f : 0x80, 2]);
    const allowed = version === 5 ? [0, 1, 2, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2] : [0, 1, 2, 0x80];
    for (const code of suback.granted as number[]) expect(allowed).toContain(code);
    client.send({ cmd: 'pingreq' });
    await client.next('pingresp');
    expect(client.packets.filter((p) => p.cmd === 'suback')).toEqual([]);
  });

  it('[3.1.1 MQTT-3.10.4-4] [3.1.1 MQTT-3.10.4-6] [5.0 MQTT-3.10.4-4] [5.0 MQTT-3.10.4-5] [5.0 MQTT-3.10.4-6] [5.0 MQTT-3.11.3-1] [5.0 MQTT-3.11.3-2] [5.0 MQTT-3.10.4-1] [5.0 MQTT-3.10.4-2] one UNSUBSCRIBE of several filters gets one UNSUBACK with its id; filters compare literally', async () => {
    const client = await connect(version, uid('unsub'));
    await subscribe(client, 'us/a', 0);
    await subscribe(client, 'us/+', 0);
    client.send({ cmd: 'unsubscribe', messageId: 11, unsubscriptions: ['us/a', 'us/none'] });
    const unsuback = (await client.next('unsuback')) as IUnsubackPacket;
    expect(unsuback.messageId).toBe(11);
    if (version === 5) expect(unsuback.granted).toEqual([0x00, 0x11]);
    // 'us/+' is still there (unsubscribing 'us/a' did not touch it); 'us/a' no longer adds copies.
    await publishFrom('us/a', 'once', 0);
    expect(await client.next('publish')).toMatchObject({ topic: 'us/a' });
    client.send({ cmd: 'pingreq' });
    await client.next('pingresp');
    expect(client.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
  });

  it('[5.0 MQTT-3.12.4-1] PINGREQ is answered with PINGRESP', async () => {
    const client = await connect(version, uid('ping'));
    client.send({ cmd: 'pingreq' });
    expect(await client.next('pingresp')).toMatchObject({ cmd: 'pingresp' });
  });
});

describe.each([4, 5] as const)('fixed-header flags, protocol level %i', (version) => {
  const cases: Array<[string, Buffer]> = [
    ['[3.1.1 MQTT-3.10.1-1] [5.0 MQTT-3.10.1-1] UNSUBSCRIBE with flags 0000', frame(0xa0, [...u16(1), ...(version === 5 ? [0] : []), 0x00, 0x01, 0x61])],
    ['[5.0 MQTT-3.8.1-1] SUBSCRIBE with flags 0000', frame(0x80, [...u16(1), ...(version === 5 ? [0] : []), 0x00, 0x01, 0x61, 0x00])],
    ['[3.1.1 MQTT-3.14.1-1] [5.0 MQTT-3.14.1-1] DISCONNECT with flags 0001', frame(0xe1, [])],
    ['[3.1.1 MQTT-2.2.2-1] [5.0 MQTT-2.1.3-1] PUBACK with flags 0001', frame(0x41, u16(1))],
    ['[5.0 MQTT-3.3.1-4] PUBLISH with QoS 3', frame(0x36, [0x00, 0x01, 0x61, ...u16(1), ...(version === 5 ? [0] : [])])],
  ];
  it.each(cases)('%s closes the connection (5.0: DISCONNECT 0x81 first)', async (_name, bytes) => {
    const client = await connect(version, uid('flags'));
    client.writeBytes(bytes);
    if (version === 5) expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x81 });
    await client.waitClosed();
  });
});

describe('MQTT 5 AUTH flags', () => {
  it('[5.0 MQTT-3.15.1-1] AUTH with flags 0001 is malformed', async () => {
    const client = await connect(5, uid('authflags'));
    client.writeBytes(frame(0xf1, []));
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x81 });
    await client.waitClosed();
  });
});

describe.each([4, 5] as const)('CONNECT and CONNACK, protocol level %i', (version) => {
  it('[5.0 MQTT-3.2.2-1] [5.0 MQTT-3.2.2-2] [5.0 MQTT-3.1.4-5] [5.0 MQTT-3.2.0-1] [5.0 MQTT-3.2.0-2] one CONNACK, first, flags 0 with Clean Start, code 0', async () => {
    const client = await RawClient.open(tb.port, version);
    const bytes = tapBytes(client);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: uid('ack'), clean: true, keepalive: 0 });
    await client.next('connack');
    client.send({ cmd: 'pingreq' });
    await client.next('pingresp');
    const raw = bytes();
    expect(raw[0]).toBe(0x20);
    expect(raw[2]).toBe(0x00);
    expect(raw[3]).toBe(0x00);
    expect(client.packets).toEqual([]);
  });

  it('[3.1.1 MQTT-3.1.2-4] [5.0 MQTT-3.1.2-5] [5.0 MQTT-3.1.2-6] [5.0 MQTT-3.2.2-3] [3.1.1 MQTT-3.1.3-2] [5.0 MQTT-3.1.3-2] Clean Start 0 creates a session or resumes the one of that client id (Session Present tells which)', async () => {
    const id = uid('resume');
    const persistent = version === 5 ? { clean: false, properties: { sessionExpiryInterval: 60 } } : { clean: false };
    const first = await RawClient.open(tb.port, version);
    first.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: id, keepalive: 0, ...persistent });
    expect(await first.next('connack')).toMatchObject({ sessionPresent: false });
    await subscribe(first, `resume/${id}`, 1);
    first.destroy();
    await expect.poll(() => tb.broker.admin.isConnected(id)).toBe(false);
    // Another client id does not get this session.
    const other = await RawClient.open(tb.port, version);
    other.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `${id}-other`, keepalive: 0, ...persistent });
    expect(await other.next('connack')).toMatchObject({ sessionPresent: false });
    const again = await RawClient.open(tb.port, version);
    again.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: id, keepalive: 0, ...persistent });
    expect(await again.next('connack')).toMatchObject({ sessionPresent: true });
    await publishFrom(`resume/${id}`, 'kept', 1);
    expect(await again.next('publish')).toMatchObject({ topic: `resume/${id}` });
  });

  it('[5.0 MQTT-3.1.2-4] [5.0 MQTT-3.1.4-4] [3.1.1 MQTT-3.1.4-3] Clean Start 1 discards the stored session', async () => {
    const id = uid('discard');
    const persistent = version === 5 ? { clean: false, properties: { sessionExpiryInterval: 60 } } : { clean: false };
    const first = await connect(version, id, persistent);
    await subscribe(first, `discard/${id}`, 1);
    first.destroy();
    await expect.poll(() => tb.broker.admin.isConnected(id)).toBe(false);
    const again = await RawClient.open(tb.port, version);
    again.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: id, clean: true, keepalive: 0 });
    expect(await again.next('connack')).toMatchObject({ sessionPresent: false });
    await publishFrom(`discard/${id}`, 'gone', 1);
    again.send({ cmd: 'pingreq' });
    await again.next('pingresp');
    expect(again.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
  });

  it('[3.1.1 MQTT-3.2.2-4] [3.1.1 MQTT-3.2.2-5] [5.0 MQTT-3.2.2-6] [5.0 MQTT-3.2.2-7] [5.0 MQTT-3.2.2-8] [5.0 MQTT-3.1.4-2] [5.0 MQTT-4.13.2-1] [3.1.1 MQTT-3.1.4-5] [5.0 MQTT-3.1.4-6] a refused CONNECT: CONNACK with Session Present 0 and a failure code, the close, and nothing after it processed', async () => {
    const watcher = await connectClient(tb.url, { clientId: uid('refwatch') });
    const collector = new MessageCollector(watcher);
    await watcher.subscribeAsync(['refused/after', 'refused/marker'], { qos: 0 });
    const client = await RawClient.open(tb.port, version);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: uid('refused'), clean: true, keepalive: 0, username: 'refused' });
    // Sent before the answer: must not be processed.
    client.send({ cmd: 'publish', topic: 'refused/after', payload: Buffer.from('no'), qos: 0, retain: false, dup: false });
    const connack = (await client.next('connack')) as IConnackPacket;
    expect(connack.sessionPresent).toBe(false);
    if (version === 5) {
      expect(connack.reasonCode).toBe(0x86);
      expect([0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f]).toContain(connack.reasonCode);
    } else {
      expect(connack.returnCode).toBe(4);
    }
    await client.waitClosed();
    await publishFrom('refused/marker', 'm', 0);
    await collector.waitFor(1);
    expect(collector.messages.map((m) => m.topic)).toEqual(['refused/marker']);
  });

  it('[3.1.1 MQTT-3.1.3-5] [5.0 MQTT-3.1.3-5] client ids of 1 to 23 letters and digits are accepted', async () => {
    for (const id of ['a', 'Z9', 'abcdefghijklmnopqrstuvw']) {
      const client = await connect(version, `${id}`);
      expect(client.isClosed).toBe(false);
      client.destroy();
    }
  });

  it('[3.1.1 MQTT-3.1.3-9] [5.0 MQTT-3.1.3-8] a client id the server rejects (longer than limits.maxClientIdLength) gets CONNACK 0x02 / 0x85, then the close', async () => {
    const client = await RawClient.open(tb.port, version);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: 'x'.repeat(300), clean: true, keepalive: 0 });
    const connack = (await client.next('connack')) as IConnackPacket;
    expect(version === 5 ? connack.reasonCode : connack.returnCode).toBe(version === 5 ? 0x85 : 0x02);
    await client.waitClosed();
  });

  it('[3.1.1 MQTT-3.1.2-1] [5.0 MQTT-3.1.2-1] a wrong protocol name is not processed as MQTT: the connection closes without being accepted', async () => {
    const client = await RawClient.open(tb.port, version);
    client.writeBytes(frame(0x10, [0x00, 0x04, 0x4d, 0x51, 0x54, 0x58, version, 0x02, 0x00, 0x00, ...(version === 5 ? [0] : []), 0x00, 0x01, 0x61]));
    await client.waitClosed();
    const accepted = client.packets.filter((p) => p.cmd === 'connack' && ((p as IConnackPacket).reasonCode ?? (p as IConnackPacket).returnCode) === 0);
    expect(accepted).toEqual([]);
  });

  it('[3.1.1 MQTT-3.1.2-7] retained messages are not session state: they outlive the session that published them', async () => {
    const publisher = await connect(version, uid('retainer'));
    publisher.send({ cmd: 'publish', topic: `keep/${version}`, payload: Buffer.from('r'), qos: 1, messageId: 1, retain: true, dup: false });
    await publisher.next('puback');
    publisher.send({ cmd: 'disconnect' });
    await publisher.waitClosed();
    const reader = await connect(version, uid('reader'));
    await subscribe(reader, `keep/${version}`, 0);
    expect(await reader.next('publish')).toMatchObject({ topic: `keep/${version}`, retain: true });
  });
});

describe('MQTT 5 CONNECT specifics', () => {
  it('[5.0 MQTT-3.1.0-2] a second CONNECT gets DISCONNECT 0x82 and the close', async () => {
    const client = await connect(5, uid('twice5'));
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'again', clean: true, keepalive: 0 });
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
    await client.waitClosed();
  });

  it('[5.0 MQTT-3.1.3-7] an assigned client id is the session’s id from then on', async () => {
    const client = await RawClient.open(tb.port, 5);
    // Clean Start 1 with an expiry: a new session that outlives this connection.
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: '', clean: true, keepalive: 0, properties: { sessionExpiryInterval: 60 } });
    const connack = (await client.next('connack')) as IConnackPacket;
    const assigned = connack.properties!.assignedClientIdentifier!;
    expect(tb.broker.admin.isConnected(assigned)).toBe(true);
    client.destroy();
    await expect.poll(() => tb.broker.admin.isConnected(assigned)).toBe(false);
    const again = await RawClient.open(tb.port, 5);
    again.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: assigned, clean: false, keepalive: 0, properties: { sessionExpiryInterval: 60 } });
    expect(await again.next('connack')).toMatchObject({ sessionPresent: true });
  });

  it('[5.0 MQTT-4.1.0-2] a session is discarded once its expiry interval has passed after the close; [5.0 MQTT-4.1.0-1] never while connected', async () => {
    const id = uid('expiry');
    const client = await RawClient.open(tb.port, 5);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: id, clean: false, keepalive: 0, properties: { sessionExpiryInterval: 1 } });
    await client.next('connack');
    await subscribe(client, `exp/${id}`, 1);
    // Connected for longer than the interval: the session and its subscription stay.
    await new Promise((resolve) => setTimeout(resolve, 1300));
    await publishFrom(`exp/${id}`, 'still', 1);
    expect(await client.next('publish')).toMatchObject({ topic: `exp/${id}` });
    client.destroy();
    await expect.poll(() => tb.broker.admin.session(id), { timeout: 10_000 }).toBeUndefined();
    const again = await RawClient.open(tb.port, 5);
    again.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: id, clean: false, keepalive: 0, properties: { sessionExpiryInterval: 1 } });
    expect(await again.next('connack')).toMatchObject({ sessionPresent: false });
  });

  it('[5.0 MQTT-3.1.2-22] [5.0 MQTT-3.2.2-22] without a Server Keep Alive the client’s keep alive is used: silent for 1.5 × 1 s, it is closed', async () => {
    const client = await RawClient.open(tb.port, 5);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: uid('ka'), clean: true, keepalive: 1 });
    const connack = (await client.next('connack')) as IConnackPacket;
    expect(connack.properties?.serverKeepAlive).toBeUndefined();
    expect(await client.next('disconnect', 5000)).toMatchObject({ reasonCode: 0x8d });
    await client.waitClosed();
  });
});

describe('MQTT 5 retained messages', () => {
  it('[5.0 MQTT-3.3.1-5] [5.0 MQTT-3.3.1-8] RETAIN 1 replaces the retained message; RETAIN 0 leaves it alone', async () => {
    await publishFrom('r5/a', 'one', 1, { retain: true });
    await publishFrom('r5/a', 'two', 1, { retain: true });
    await publishFrom('r5/a', 'live', 1, { retain: false });
    const reader = await connect(5, uid('r5read'));
    await subscribe(reader, 'r5/a', 1);
    expect(((await reader.next('publish')) as IPublishPacket).payload.toString()).toBe('two');
  });

  it('[5.0 MQTT-3.3.1-6] [5.0 MQTT-3.3.1-7] an empty retained payload is forwarded, and removes the retained message', async () => {
    await publishFrom('r5/e', 'x', 1, { retain: true });
    const live = await connect(5, uid('r5live'));
    await subscribe(live, 'r5/e', 1);
    await live.next('publish');
    await publishFrom('r5/e', '', 1, { retain: true });
    expect(((await live.next('publish')) as IPublishPacket).payload.length).toBe(0);
    const later = await connect(5, uid('r5later'));
    await subscribe(later, 'r5/e', 1);
    later.send({ cmd: 'pingreq' });
    await later.next('pingresp');
    expect(later.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
  });

  it('[5.0 MQTT-3.3.1-9] [5.0 MQTT-3.3.1-10] [5.0 MQTT-3.3.1-11] [5.0 MQTT-3.8.4-3] [5.0 MQTT-3.8.4-4] Retain Handling 0 sends on every subscribe, 1 only on a new one, 2 never', async () => {
    await publishFrom('rh/t', 'r', 1, { retain: true });
    const count = async (rh: 0 | 1 | 2): Promise<number> => {
      const client = await connect(5, uid(`rh${rh}`));
      for (let i = 0; i < 2; i++) await subscribe(client, 'rh/t', 1, { rh });
      client.send({ cmd: 'pingreq' });
      await client.next('pingresp');
      return client.packets.filter((p) => p.cmd === 'publish').length;
    };
    expect(await count(0)).toBe(2);
    expect(await count(1)).toBe(1);
    expect(await count(2)).toBe(0);
  });

  it('[5.0 MQTT-3.3.1-12] [5.0 MQTT-3.3.1-13] Retain As Published 0 clears RETAIN on live deliveries, 1 keeps it', async () => {
    const clear = await connect(5, uid('rap0'));
    await subscribe(clear, 'rap5/t', 1, { rap: false, rh: 2 });
    const keep = await connect(5, uid('rap1'));
    await subscribe(keep, 'rap5/t', 1, { rap: true, rh: 2 });
    await publishFrom('rap5/t', 'x', 1, { retain: true });
    expect(await clear.next('publish')).toMatchObject({ retain: false });
    expect(await keep.next('publish')).toMatchObject({ retain: true });
  });
});

describe('3.1.1 retained QoS 0', () => {
  it('[3.1.1 MQTT-3.3.1-7] a retained QoS 0 PUBLISH replaces the previously retained message', async () => {
    const publisher = await connect(4, uid('r0pub'));
    publisher.send({ cmd: 'publish', topic: 'r0/t', payload: Buffer.from('old'), qos: 1, messageId: 1, retain: true, dup: false });
    await publisher.next('puback');
    publisher.send({ cmd: 'publish', topic: 'r0/t', payload: Buffer.from('new'), qos: 0, retain: true, dup: false });
    await expect.poll(async () => {
      const reader = await connect(4, uid('r0read'));
      await subscribe(reader, 'r0/t', 0);
      const payload = ((await reader.next('publish')) as IPublishPacket).payload.toString();
      reader.destroy();
      return payload;
    }).toBe('new');
  });
});

describe.each([4, 5] as const)('wills, protocol level %i', (version) => {
  it('[3.1.1 MQTT-3.1.2-16] [5.0 MQTT-3.1.2-7] [5.0 MQTT-3.1.2-8] [5.0 MQTT-3.1.2-14] [5.0 MQTT-3.1.3-10] a will (Will Retain 0) is published non-retained when the connection drops, user properties in order', async () => {
    const watcher = await connect(5, uid('willw'));
    await subscribe(watcher, `will/${version}`, 0);
    const will = { topic: `will/${version}`, payload: Buffer.from('gone'), qos: 0, retain: false, ...(version === 5 ? { properties: { userProperties: { a: '1', b: '2', c: '3' } } } : {}) };
    const client = await connect(version, uid('willc'), { will });
    client.destroy();
    const publish = (await watcher.next('publish')) as IPublishPacket;
    expect(publish).toMatchObject({ topic: `will/${version}`, retain: false });
    if (version === 5) expect(Object.keys(publish.properties?.userProperties ?? {})).toEqual(['a', 'b', 'c']);
  });

  it('[5.0 MQTT-3.1.2-15] a will with Will Retain 1 is published retained', async () => {
    const client = await connect(version, uid('willr'), { will: { topic: `willr/${version}`, payload: Buffer.from('r'), qos: 1, retain: true } });
    client.destroy();
    await expect.poll(async () => {
      const reader = await connect(5, uid('willrr'));
      await subscribe(reader, `willr/${version}`, 1);
      reader.send({ cmd: 'pingreq' });
      await reader.next('pingresp');
      return reader.packets.some((p) => p.cmd === 'publish' && (p as IPublishPacket).retain);
    }).toBe(true);
  });

  it('[3.1.1 MQTT-3.1.2-12] [5.0 MQTT-3.14.4-3] [5.0 MQTT-3.1.2-10] no will flag, or a normal DISCONNECT: nothing is published', async () => {
    const watcher = await connect(5, uid('nowill'));
    await subscribe(watcher, `nowill/${version}/#`, 0);
    const plain = await connect(version, uid('plain'));
    plain.destroy();
    const clean = await connect(version, uid('cleanwill'), { will: { topic: `nowill/${version}/w`, payload: Buffer.from('w'), qos: 0, retain: false } });
    clean.send({ cmd: 'disconnect' });
    await clean.waitClosed();
    await publishFrom(`nowill/${version}/marker`, 'm', 0);
    expect(await watcher.next('publish')).toMatchObject({ topic: `nowill/${version}/marker` });
    expect(watcher.packets).toEqual([]);
  });
});

describe.each([4, 5] as const)('outgoing QoS 1 and 2, protocol level %i', (version) => {
  const persistent = version === 5 ? { clean: false, properties: { sessionExpiryInterval: 60 } } : { clean: false };

  it('[3.1.1 MQTT-4.3.2-1] [5.0 MQTT-2.2.1-4] [5.0 MQTT-4.3.2-1] [5.0 MQTT-4.3.2-2] [5.0 MQTT-4.3.2-3] [3.1.1 MQTT-3.3.1-1] QoS 1: a non-zero id, DUP 0, kept until PUBACK (resent with DUP on reconnect)', async () => {
    const id = uid('out1');
    const sub = await connect(version, id, persistent);
    await subscribe(sub, `out1/${id}`, 1);
    await publishFrom(`out1/${id}`, 'a', 1);
    const first = (await sub.next('publish')) as IPublishPacket;
    expect(first).toMatchObject({ qos: 1, dup: false });
    expect(first.messageId).toBeGreaterThan(0);
    sub.destroy();
    await expect.poll(() => tb.broker.admin.isConnected(id)).toBe(false);
    const again = await connect(version, id, persistent);
    const resent = (await again.next('publish')) as IPublishPacket;
    expect(resent).toMatchObject({ qos: 1, dup: true, messageId: first.messageId });
  });

  it('[5.0 MQTT-4.3.3-1] [5.0 MQTT-4.3.3-2] [5.0 MQTT-4.3.3-3] [5.0 MQTT-4.3.3-4] [5.0 MQTT-4.3.3-5] [5.0 MQTT-4.3.3-6] QoS 2: PUBLISH kept until PUBREC, then PUBREL of the same id kept until PUBCOMP; the PUBLISH is not sent again', async () => {
    const id = uid('out2');
    const sub = await connect(version, id, persistent);
    await subscribe(sub, `out2/${id}`, 2);
    await publishFrom(`out2/${id}`, 'a', 2);
    const publish = (await sub.next('publish')) as IPublishPacket;
    expect(publish).toMatchObject({ qos: 2, dup: false });
    sub.destroy();
    await expect.poll(() => tb.broker.admin.isConnected(id)).toBe(false);
    const second = await connect(version, id, persistent);
    expect(await second.next('publish')).toMatchObject({ dup: true, messageId: publish.messageId });
    second.send({ cmd: 'pubrec', messageId: publish.messageId! });
    expect(await second.next('pubrel')).toMatchObject({ messageId: publish.messageId });
    second.destroy();
    await expect.poll(() => tb.broker.admin.isConnected(id)).toBe(false);
    const third = await connect(version, id, persistent);
    expect(await third.next('pubrel')).toMatchObject({ messageId: publish.messageId });
    third.send({ cmd: 'pubcomp', messageId: publish.messageId! });
    third.send({ cmd: 'pingreq' });
    await third.next('pingresp');
    expect(third.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
  });

  it('[3.1.1 MQTT-4.5.0-1] [5.0 MQTT-4.5.0-1] [3.1.1 MQTT-4.6.0-5] [5.0 MQTT-4.6.0-5] [5.0 MQTT-4.6.0-6] [5.0 MQTT-4.2.0-1] [3.1.1 MQTT-7.1.1-1] every matching session gets the message (online or not), in the order published, over TCP', async () => {
    const offlineId = uid('offline');
    const offline = await connect(version, offlineId, persistent);
    await subscribe(offline, `ord/${offlineId}`, 1);
    offline.destroy();
    await expect.poll(() => tb.broker.admin.isConnected(offlineId)).toBe(false);
    const online = await connect(version, uid('online'));
    await subscribe(online, `ord/${offlineId}`, 1);
    const publisher = await connectClient(tb.url, { clientId: uid('ordpub') });
    for (let i = 0; i < 20; i++) await publisher.publishAsync(`ord/${offlineId}`, String(i), { qos: 1 });
    const read = async (client: RawClient): Promise<string[]> => {
      const got: string[] = [];
      for (let i = 0; i < 20; i++) {
        const p = (await client.next('publish')) as IPublishPacket;
        got.push(p.payload.toString());
        client.send({ cmd: 'puback', messageId: p.messageId! });
      }
      return got;
    };
    const expected = Array.from({ length: 20 }, (_, i) => String(i));
    expect(await read(online)).toEqual(expected);
    const back = await connect(version, offlineId, persistent);
    expect(await read(back)).toEqual(expected);
  });

  it('[5.0 MQTT-3.3.1-3] [5.0 MQTT-3.8.4-8] DUP is not propagated; delivery is at min(published, granted) QoS', async () => {
    const sub = await connect(version, uid('dupmin'));
    await subscribe(sub, `dm/${version}`, 1);
    const client = await connect(5, uid('dupmin-pub'));
    client.send({ cmd: 'publish', topic: `dm/${version}`, payload: Buffer.from('x'), qos: 2, messageId: 3, retain: false, dup: true });
    expect(await sub.next('publish')).toMatchObject({ qos: 1, dup: false });
  });
});

describe('MQTT 5 flow control and acknowledgement codes', () => {
  it('[5.0 MQTT-4.9.0-1] [5.0 MQTT-4.9.0-2] [5.0 MQTT-4.9.0-3] [5.0 MQTT-3.3.4-10] at most Receive Maximum unacknowledged; other packets are still answered; a PUBACK frees a slot', async () => {
    const sub = await connect(5, uid('quota'), { properties: { receiveMaximum: 2 } });
    await subscribe(sub, 'quota/t', 1);
    for (let i = 0; i < 4; i++) await publishFrom('quota/t', String(i), 1);
    const first = (await sub.next('publish')) as IPublishPacket;
    await sub.next('publish');
    // Quota 0: SUBSCRIBE and PINGREQ are still answered, and no third PUBLISH comes.
    sub.send({ cmd: 'subscribe', messageId: 5, subscriptions: [{ topic: 'quota/other', qos: 0 }] });
    await sub.next('suback');
    sub.send({ cmd: 'pingreq' });
    await sub.next('pingresp');
    expect(sub.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
    sub.send({ cmd: 'puback', messageId: first.messageId! });
    expect(((await sub.next('publish')) as IPublishPacket).payload.toString()).toBe('2');
  });

  it('[5.0 MQTT-4.4.0-2] a PUBREC with reason 0x80 or above ends the delivery: it is not retransmitted, and frees its slot', async () => {
    const id = uid('recfail');
    const persistent = { clean: false, properties: { sessionExpiryInterval: 60, receiveMaximum: 1 } };
    const sub = await connect(5, id, persistent);
    await subscribe(sub, `rf/${id}`, 2);
    await publishFrom(`rf/${id}`, 'a', 2);
    await publishFrom(`rf/${id}`, 'b', 2);
    const first = (await sub.next('publish')) as IPublishPacket;
    sub.send({ cmd: 'pubrec', messageId: first.messageId!, reasonCode: 0x80 });
    expect(((await sub.next('publish')) as IPublishPacket).payload.toString()).toBe('b');
    sub.destroy();
    await expect.poll(() => tb.broker.admin.isConnected(id)).toBe(false);
    const again = await connect(5, id, persistent);
    // Only 'b' (unacknowledged) comes again; 'a' ended with the failing PUBREC.
    expect(((await again.next('publish')) as IPublishPacket).payload.toString()).toBe('b');
    again.send({ cmd: 'pingreq' });
    await again.next('pingresp');
    expect(again.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
  });

  it('[5.0 MQTT-4.3.3-8] [5.0 MQTT-4.3.3-10] [5.0 MQTT-4.3.3-11] [5.0 MQTT-4.3.3-12] [5.0 MQTT-3.5.2-1] [5.0 MQTT-3.7.2-1] incoming QoS 2: PUBREC, repeats answered without a second delivery, PUBCOMP, then the id is new', async () => {
    const watcher = await connectClient(tb.url, { clientId: uid('q2w') });
    const collector = new MessageCollector(watcher);
    await watcher.subscribeAsync('q2in/t', { qos: 0 });
    const client = await connect(5, uid('q2in'));
    const publish = { cmd: 'publish', topic: 'q2in/t', payload: Buffer.from('a'), qos: 2, messageId: 5, retain: false, dup: false } as const;
    client.send(publish);
    expect(await client.next('pubrec')).toMatchObject({ messageId: 5 });
    client.send({ ...publish, dup: true });
    expect(await client.next('pubrec')).toMatchObject({ messageId: 5 });
    client.send({ cmd: 'pubrel', messageId: 5 });
    expect(await client.next('pubcomp')).toMatchObject({ messageId: 5, reasonCode: 0 });
    client.send({ ...publish, payload: Buffer.from('b') });
    expect(await client.next('pubrec')).toMatchObject({ messageId: 5 });
    await collector.waitFor(2);
    expect(collector.messages.map((m) => m.payload)).toEqual(['a', 'b']);
    // A PUBREL for an id we do not hold: PUBCOMP 0x92, one of PUBCOMP's codes.
    client.send({ cmd: 'pubrel', messageId: 999 });
    expect(await client.next('pubcomp')).toMatchObject({ messageId: 999, reasonCode: 0x92 });
  });

  it('[5.0 MQTT-3.6.2-1] a PUBREC for an id not in flight is answered with PUBREL 0x92 (one of PUBREL’s codes)', async () => {
    const client = await connect(5, uid('pubrel92'));
    client.send({ cmd: 'pubrec', messageId: 1234 });
    expect(await client.next('pubrel')).toMatchObject({ messageId: 1234, reasonCode: 0x92 });
  });

  it('[5.0 MQTT-4.3.3-9] after our PUBREC 0x87 (not authorized), the same id is a new message', async () => {
    const watcher = await connectClient(tb.url, { clientId: uid('q2fw') });
    const collector = new MessageCollector(watcher);
    await watcher.subscribeAsync('fresh/t', { qos: 0 });
    const client = await connect(5, uid('q2fail'));
    client.send({ cmd: 'publish', topic: '$SYS/forbidden', payload: Buffer.from('no'), qos: 2, messageId: 8, retain: false, dup: false });
    expect(await client.next('pubrec')).toMatchObject({ messageId: 8, reasonCode: 0x87 });
    client.send({ cmd: 'publish', topic: 'fresh/t', payload: Buffer.from('yes'), qos: 2, messageId: 8, retain: false, dup: false });
    expect(await client.next('pubrec')).toMatchObject({ messageId: 8, reasonCode: 0 });
    await collector.waitFor(1);
    expect(collector.messages.map((m) => m.payload)).toEqual(['yes']);
  });

  it('[5.0 MQTT-4.3.3-7] [5.0 MQTT-4.3.3-13] a QoS 2 delivery whose message expires after it was sent is still completed', async () => {
    const sub = await connect(5, uid('q2exp'));
    await subscribe(sub, 'q2exp/t', 2);
    await publishFrom('q2exp/t', 'e', 2, { properties: { messageExpiryInterval: 1 } });
    const publish = (await sub.next('publish')) as IPublishPacket;
    await new Promise((resolve) => setTimeout(resolve, 1200));
    sub.send({ cmd: 'pubrec', messageId: publish.messageId! });
    expect(await sub.next('pubrel')).toMatchObject({ messageId: publish.messageId });
  });

  it('[5.0 MQTT-3.3.4-2] overlapping subscriptions deliver at the highest granted QoS', async () => {
    const sub = await connect(5, uid('overlap'));
    await subscribe(sub, 'ov/#', 0);
    await subscribe(sub, 'ov/t', 1);
    await publishFrom('ov/t', 'x', 1);
    const copies = [(await sub.next('publish')) as IPublishPacket];
    sub.send({ cmd: 'pingreq' });
    await sub.next('pingresp');
    copies.push(...(sub.packets.filter((p) => p.cmd === 'publish') as IPublishPacket[]));
    expect(Math.max(...copies.map((p) => p.qos))).toBe(1);
  });

  it('[5.0 MQTT-3.5.2-1] [5.0 MQTT-3.4.2-1] [5.0 MQTT-3.5.2-2] a PUBREC 0x87 whose reason string would exceed the client’s Maximum Packet Size goes without it', async () => {
    const client = await connect(5, uid('tinyrec'), { properties: { maximumPacketSize: 20 } });
    client.send({ cmd: 'publish', topic: '$SYS/x', payload: Buffer.from('x'), qos: 2, messageId: 2, retain: false, dup: false });
    const pubrec = await client.next('pubrec');
    expect(pubrec).toMatchObject({ messageId: 2, reasonCode: 0x87 });
    expect((pubrec as { properties?: { reasonString?: string } }).properties?.reasonString).toBeUndefined();
    client.send({ cmd: 'publish', topic: '$SYS/y', payload: Buffer.from('x'), qos: 1, messageId: 3, retain: false, dup: false });
    expect(await client.next('puback')).toMatchObject({ messageId: 3, reasonCode: 0x87 });
  });
});

describe('MQTT 5 server DISCONNECT', () => {
  it('[5.0 MQTT-3.14.4-1] [5.0 MQTT-3.14.4-2] [5.0 MQTT-3.14.2-1] [5.0 MQTT-3.14.2-2] after its DISCONNECT (a valid reason code, no Session Expiry Interval) the server sends nothing and closes', async () => {
    const client = await connect(5, uid('srvdisc'));
    await subscribe(client, 'sd/t', 0);
    client.writeBytes(frame(0xc0, [0x01]));
    const disconnect = (await client.next('disconnect')) as { reasonCode: number; properties?: { sessionExpiryInterval?: number } };
    expect([0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2]).toContain(disconnect.reasonCode);
    expect(disconnect.properties?.sessionExpiryInterval).toBeUndefined();
    await publishFrom('sd/t', 'late', 0);
    await client.waitClosed();
    expect(client.packets).toEqual([]);
  });

  it('[5.0 MQTT-3.14.0-1] a failure before CONNACK is reported in CONNACK, never in a DISCONNECT', async () => {
    const client = await RawClient.open(tb.port, 5);
    client.writeBytes(frame(0x10, [0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01, 0x61]));
    expect(await client.next('connack')).toMatchObject({ reasonCode: 0x81 });
    await client.waitClosed();
    expect(client.packets.filter((p) => p.cmd === 'disconnect')).toEqual([]);
  });
});

describe('MQTT 5 enhanced authentication', () => {
  async function begin(method: string): Promise<RawClient> {
    const client = await RawClient.open(tb.port, 5);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: uid('auth'), clean: true, keepalive: 0, properties: { authenticationMethod: method, authenticationData: Buffer.from('hello') } });
    return client;
  }

  it('[5.0 MQTT-4.12.0-2] [5.0 MQTT-4.12.0-5] [5.0 MQTT-3.15.2-1] the server asks with AUTH 0x18, and every AUTH and the CONNACK carry the method of the CONNECT', async () => {
    const client = await begin('TEST-CHALLENGE');
    const challenge = (await client.next('auth')) as { reasonCode: number; properties?: { authenticationMethod?: string } };
    expect(challenge.reasonCode).toBe(0x18);
    expect(challenge.properties?.authenticationMethod).toBe('TEST-CHALLENGE');
    client.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('answer') } });
    const connack = (await client.next('connack')) as IConnackPacket;
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties?.authenticationMethod).toBe('TEST-CHALLENGE');
  });

  it('[5.0 MQTT-4.12.0-4] a failed exchange ends with a CONNACK of 0x80 or above, then the close', async () => {
    const client = await begin('TEST-CHALLENGE');
    await client.next('auth');
    client.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('wrong') } });
    const connack = (await client.next('connack')) as IConnackPacket;
    expect(connack.reasonCode).toBeGreaterThanOrEqual(0x80);
    await client.waitClosed();
  });

  it('[5.0 MQTT-4.12.0-1] an unsupported authentication method gets CONNACK 0x8C, then the close', async () => {
    const client = await begin('NOT-OFFERED');
    expect(await client.next('connack')).toMatchObject({ reasonCode: 0x8c });
    await client.waitClosed();
  });

  it('[5.0 MQTT-4.12.0-6] without an authentication method in CONNECT there is no AUTH and no method in CONNACK', async () => {
    const client = await RawClient.open(tb.port, 5);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: uid('noauth'), clean: true, keepalive: 0 });
    const connack = (await client.next('connack')) as IConnackPacket;
    expect(connack.properties?.authenticationMethod).toBeUndefined();
    client.send({ cmd: 'pingreq' });
    await client.next('pingresp');
    expect(client.packets.filter((p) => p.cmd === 'auth')).toEqual([]);
  });

  it('[5.0 MQTT-4.12.1-2] a failed re-authentication gets a DISCONNECT and the close', async () => {
    const client = await begin('TEST-CHALLENGE');
    await client.next('auth');
    client.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('answer') } });
    await client.next('connack');
    client.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('hello') } });
    await client.next('auth');
    client.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('wrong') } });
    expect(((await client.next('disconnect')) as { reasonCode: number }).reasonCode).toBeGreaterThanOrEqual(0x80);
    await client.waitClosed();
  });
});

it('a broker with maximumQoS 1 refuses a will of QoS 2 with CONNACK 0x9B [5.0 MQTT-3.2.2-12]', async () => {
  const limited = await startBroker({ limits: { maximumQoS: 1 } });
  try {
    const client = await RawClient.open(limited.port, 5);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'willqos', clean: true, keepalive: 0, will: { topic: 'w', payload: Buffer.from('x'), qos: 2, retain: false } });
    expect(await client.next('connack')).toMatchObject({ reasonCode: 0x9b });
    await client.waitClosed();
  } finally {
    await limited.cleanup();
  }
});

describe.each([4, 5] as const)('sessions and unsubscribing, protocol level %i', (version) => {
  const persistent = version === 5 ? { clean: false, properties: { sessionExpiryInterval: 60 } } : { clean: false };

  it('[3.1.1 MQTT-3.10.4-3] [5.0 MQTT-3.10.4-3] a QoS 1 delivery already started still completes after its subscription is removed', async () => {
    const id = uid('unsub-inflight');
    const sub = await connect(version, id, persistent);
    await subscribe(sub, `ui/${id}`, 1);
    await publishFrom(`ui/${id}`, 'started', 1);
    const publish = (await sub.next('publish')) as IPublishPacket;
    sub.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: [`ui/${id}`] });
    await sub.next('unsuback');
    sub.destroy();
    await expect.poll(() => tb.broker.admin.isConnected(id)).toBe(false);
    const again = await connect(version, id, persistent);
    expect(await again.next('publish')).toMatchObject({ messageId: publish.messageId, dup: true });
    again.send({ cmd: 'puback', messageId: publish.messageId! });
  });

  it('[3.1.1 MQTT-4.1.0-1] [3.1.1 MQTT-4.1.0-2] session state lasts the whole connection, and (Clean Session 0) beyond it', async () => {
    const id = uid('life');
    const client = await connect(version, id, persistent);
    await subscribe(client, `life/${id}`, 1);
    for (let i = 0; i < 3; i++) {
      await publishFrom(`life/${id}`, String(i), 1);
      const p = (await client.next('publish')) as IPublishPacket;
      client.send({ cmd: 'puback', messageId: p.messageId! });
    }
    client.destroy();
    await expect.poll(() => tb.broker.admin.isConnected(id)).toBe(false);
    await publishFrom(`life/${id}`, 'later', 1);
    const again = await connect(version, id, persistent);
    expect(((await again.next('publish')) as IPublishPacket).payload.toString()).toBe('later');
  });
});

describe('MQTT 5 shared subscriptions and QoS 2', () => {
  async function member(id: string, expiry: number): Promise<RawClient> {
    const client = await connect(5, id, { clean: false, properties: { sessionExpiryInterval: expiry } });
    await subscribe(client, '$share/g2/sh2/t', 2);
    return client;
  }
  const quiet = async (client: RawClient): Promise<IPublishPacket[]> => {
    client.send({ cmd: 'pingreq' });
    await client.next('pingresp');
    return client.packets.filter((p) => p.cmd === 'publish') as IPublishPacket[];
  };

  it('[5.0 MQTT-4.8.2-4] a QoS 2 delivery to a member cut off by disconnection is completed to that member when it reconnects', async () => {
    const a = await member('share-a', 60);
    const b = await member('share-b', 60);
    await publishFrom('sh2/t', 'only-one', 2);
    const first = await Promise.race([a.next('publish').then(() => 'share-a'), b.next('publish').then(() => 'share-b')]);
    const [gotIt, other] = first === 'share-a' ? [a, b] : [b, a];
    gotIt.destroy();
    await expect.poll(() => tb.broker.admin.isConnected(first)).toBe(false);
    expect(await quiet(other)).toEqual([]);
    const back = await connect(5, first, { clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(await back.next('publish')).toMatchObject({ topic: 'sh2/t', dup: true });
  });

  it('[5.0 MQTT-4.8.2-6] a member answering PUBACK 0x80 ends the message: no other member gets it', async () => {
    const a = await connect(5, uid('sh1a'));
    await subscribe(a, '$share/g1/sh1/t', 1);
    const b = await connect(5, uid('sh1b'));
    await subscribe(b, '$share/g1/sh1/t', 1);
    await publishFrom('sh1/t', 'refused', 1);
    const [receiver, other] = await Promise.race([a.next('publish').then((p) => [a, b, p] as const), b.next('publish').then((p) => [b, a, p] as const)]).then(([r, o, p]) => {
      r.send({ cmd: 'puback', messageId: (p as IPublishPacket).messageId!, reasonCode: 0x80 });
      return [r, o];
    });
    expect(await quiet(receiver)).toEqual([]);
    expect(await quiet(other)).toEqual([]);
  });

  it('[5.0 MQTT-4.8.2-5] if that member’s session ends before it reconnects, the message goes to no other member', async () => {
    const a = await member('share-c', 1);
    const b = await member('share-d', 60);
    await publishFrom('sh2/t', 'lost-with-session', 2);
    const first = await Promise.race([a.next('publish').then(() => 'share-c'), b.next('publish').then(() => 'share-d')]);
    const [gotIt, other] = first === 'share-c' ? [a, b] : [b, a];
    if (first === 'share-d') {
      // The long-lived member got it: end its session explicitly (expiry 0 on DISCONNECT is not allowed to grow, but to shrink is).
      gotIt.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    } else {
      gotIt.destroy();
    }
    await expect.poll(() => tb.broker.admin.session(first), { timeout: 10_000 }).toBeUndefined();
    expect(await quiet(other)).toEqual([]);
  });
});
