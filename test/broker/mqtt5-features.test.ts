/** MQTT 5.0 features through real sockets, each test naming the 5.0 statement it checks. */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { IAuthPacket, IConnackPacket, IPublishPacket } from 'mqtt-packet';
import type { EnhancedAuthenticator } from '../../src/auth/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient, connectCollecting, RawClient } from '../helpers/clients.js';

let tb: TestBroker;
const extra: TestBroker[] = [];

/** HMAC-SHA256 challenge/response, written for the test: server nonce, client proves the secret. */
const SECRET = Buffer.from('device-secret');
const hmacAuthenticator: EnhancedAuthenticator = {
  method: 'HMAC-CHALLENGE',
  begin: () => {
    const nonce = randomBytes(16);
    let isChallenged = false;
    return {
      step: (data) => {
        if (!isChallenged) {
          isChallenged = true;
          return { status: 'continue', data: nonce };
        }
        const expected = createHmac('sha256', SECRET).update(nonce).digest();
        const isValid = data !== undefined && data.length === expected.length && timingSafeEqual(data, expected);
        return isValid ? { status: 'success', data: Buffer.from('welcome') } : { status: 'failure', reasonCode: 0x87 };
      },
    };
  },
};

beforeAll(async () => {
  tb = await startBroker({ limits: { receiveMaximum: 3, topicAliasMaximum: 5 } }, { enhancedAuthenticators: [hmacAuthenticator] });
});
afterAll(async () => {
  await tb.cleanup();
});
afterEach(async () => {
  await closeAllClients();
  for (const b of extra.splice(0)) await b.cleanup();
});

async function raw5(clientId: string, properties: Record<string, unknown> = {}, more: Record<string, unknown> = {}, port = tb.port) {
  const client = await RawClient.open(port, 5);
  client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 0, properties, ...more });
  const connack = (await client.next('connack')) as IConnackPacket;
  return { client, connack };
}

describe('session expiry', () => {
  it('[5.0 MQTT-3.1.2-23] a session with an expiry interval keeps its subscriptions after the connection closes', async () => {
    const { client } = await raw5('se1', { sessionExpiryInterval: 300 });
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'se1/t', qos: 1 }] });
    await client.next('suback');
    client.destroy();
    await expect.poll(() => tb.broker.admin.session('se1')?.isOnline).toBe(false);
    expect(tb.broker.admin.session('se1')!.subscriptions.has('se1/t')).toBe(true);
    const back = await RawClient.open(tb.port, 5);
    back.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'se1', clean: false, keepalive: 0, properties: { sessionExpiryInterval: 300 } });
    expect(((await back.next('connack')) as IConnackPacket).sessionPresent).toBe(true);
  });

  it('DISCONNECT may shorten the expiry to 0, which ends the session', async () => {
    const { client } = await raw5('se2', { sessionExpiryInterval: 300 });
    client.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await client.waitClosed();
    await expect.poll(() => tb.broker.admin.session('se2')).toBeUndefined();
  });

  it('DISCONNECT setting an expiry after 0 at CONNECT is a protocol error', async () => {
    const { client } = await raw5('se3', { sessionExpiryInterval: 0 });
    client.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 60 } });
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
  });

  it('0xFFFFFFFF never expires', async () => {
    const now = { t: Date.now() };
    const own = await startBroker({}, { now: () => now.t });
    extra.push(own);
    const { client } = await raw5('se4', { sessionExpiryInterval: 0xffffffff }, {}, own.port);
    client.destroy();
    await expect.poll(() => own.broker.admin.session('se4')?.isOnline).toBe(false);
    now.t += 10 * 365 * 24 * 3600 * 1000;
    expect(own.broker.admin.session('se4')).toBeDefined();
  });
});

describe('message expiry', () => {
  it('[5.0 MQTT-3.3.2-5] [5.0 MQTT-3.3.2-6] a queued message past its expiry is not delivered; the forwarded interval is reduced', async () => {
    const now = { t: Date.now() };
    const own = await startBroker({}, { now: () => now.t });
    extra.push(own);
    const sub = await raw5('me-sub', { sessionExpiryInterval: 300 }, {}, own.port);
    sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'me/#', qos: 1 }] });
    await sub.client.next('suback');
    sub.client.destroy();
    await expect.poll(() => own.broker.admin.session('me-sub')?.isOnline).toBe(false);
    const pub = await connectClient(own.url, { clientId: 'me-pub', protocolVersion: 5 });
    await pub.publishAsync('me/short', 'expires', { qos: 1, properties: { messageExpiryInterval: 5 } });
    await pub.publishAsync('me/long', 'lives', { qos: 1, properties: { messageExpiryInterval: 1000 } });
    // Thirty seconds pass while the subscriber is away (the broker's injected clock).
    now.t += 30_000;
    const sessions = own.broker.admin.session('me-sub')!;
    expect(sessions.queuedCount).toBe(2);
    const back = await RawClient.open(own.port, 5);
    back.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'me-sub', clean: false, keepalive: 0, properties: { sessionExpiryInterval: 300 } });
    await back.next('connack');
    const msg = (await back.next('publish')) as IPublishPacket;
    expect(msg.topic).toBe('me/long');
    expect(msg.properties?.messageExpiryInterval).toBeLessThanOrEqual(970);
    expect(msg.properties?.messageExpiryInterval).toBeGreaterThan(900);
    expect(own.broker.admin.stats.dropped.expired).toBe(1);
  });
});

describe('topic aliases', () => {
  it('[5.0 MQTT-3.3.2-12] accepts aliases up to the Topic Alias Maximum and resolves them', async () => {
    const sub = await connectCollecting(tb.url, { clientId: 'ta-sub', protocolVersion: 5 });
    await sub.client.subscribeAsync('ta/t', { qos: 1 });
    const { client, connack } = await raw5('ta-pub');
    expect(connack.properties?.topicAliasMaximum).toBe(5);
    client.send({ cmd: 'publish', topic: 'ta/t', payload: Buffer.from('one'), qos: 1, messageId: 1, retain: false, dup: false, properties: { topicAlias: 5 } });
    await client.next('puback');
    client.send({ cmd: 'publish', topic: '', payload: Buffer.from('two'), qos: 1, messageId: 2, retain: false, dup: false, properties: { topicAlias: 5 } });
    await client.next('puback');
    const messages = await sub.collector.waitFor(2);
    expect(messages.map((m) => [m.topic, m.payload])).toEqual([
      ['ta/t', 'one'],
      ['ta/t', 'two'],
    ]);
  });

  it('an alias above the maximum gets DISCONNECT 0x94', async () => {
    const { client } = await raw5('ta-bad');
    client.send({ cmd: 'publish', topic: 'x', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 6 } });
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x94 });
  });
});

describe('flow control', () => {
  it('[5.0 MQTT-3.3.4-9] the client’s Receive Maximum bounds our unacknowledged deliveries to it', async () => {
    const { client } = await raw5('fc-sub', { receiveMaximum: 2 });
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'fc/t', qos: 1 }] });
    await client.next('suback');
    const pub = await connectClient(tb.url, { clientId: 'fc-pub', protocolVersion: 5 });
    for (let i = 0; i < 5; i++) await pub.publishAsync('fc/t', String(i), { qos: 1 });
    const first = (await client.next('publish')) as IPublishPacket;
    const second = (await client.next('publish')) as IPublishPacket;
    await expect(client.next('publish', 200)).rejects.toThrow();
    expect(tb.broker.admin.session('fc-sub')!.inflightCount).toBe(2);
    client.send({ cmd: 'puback', messageId: first.messageId! });
    client.send({ cmd: 'puback', messageId: second.messageId! });
    const rest = [];
    for (let i = 0; i < 3; i++) {
      const p = (await client.next('publish')) as IPublishPacket;
      rest.push(p.payload.toString());
      client.send({ cmd: 'puback', messageId: p.messageId! });
    }
    expect(rest).toEqual(['2', '3', '4']);
  });

  it('[5.0 MQTT-3.3.4-7] a publisher exceeding our Receive Maximum gets DISCONNECT 0x93', async () => {
    const { client, connack } = await raw5('fc-pub2');
    expect(connack.properties?.receiveMaximum).toBe(3);
    for (let id = 1; id <= 4; id++) {
      client.send({ cmd: 'publish', topic: 'fc2/t', payload: Buffer.from('x'), qos: 2, messageId: id, retain: false, dup: false });
    }
    // Three PUBRECs (ids awaiting PUBREL), then the fourth exceeds the window.
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x93 });
  });
});

describe('maximum packet size', () => {
  it('[5.0 MQTT-3.1.2-24] [5.0 MQTT-3.1.2-25] a message larger than the client accepts is not sent to it; smaller ones are', async () => {
    const { client } = await raw5('mps-sub', { maximumPacketSize: 100 });
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'mps/t', qos: 1 }] });
    await client.next('suback');
    const pub = await connectClient(tb.url, { clientId: 'mps-pub', protocolVersion: 5 });
    await pub.publishAsync('mps/t', 'x'.repeat(500), { qos: 1 });
    await pub.publishAsync('mps/t', 'small', { qos: 1 });
    const msg = (await client.next('publish')) as IPublishPacket;
    expect(msg.payload.toString()).toBe('small');
    client.send({ cmd: 'puback', messageId: msg.messageId! });
    await expect.poll(() => tb.broker.admin.session('mps-sub')!.inflightCount).toBe(0);
  });
});

describe('maximum packet size and reason strings', () => {
  it('[5.0 MQTT-3.4.2-2] a reason string that would exceed the client’s Maximum Packet Size is left out', async () => {
    const { client } = await raw5('tiny', { maximumPacketSize: 16 });
    client.send({ cmd: 'publish', topic: 'tiny/t', payload: Buffer.from([0xff]), qos: 1, messageId: 9, retain: false, dup: false, properties: { payloadFormatIndicator: true } });
    const puback = await client.next('puback');
    expect(puback).toMatchObject({ messageId: 9, reasonCode: 0x99 });
    expect((puback as { properties?: { reasonString?: string } }).properties?.reasonString).toBeUndefined();
    expect(puback.length).toBeLessThanOrEqual(16);
  });
});

describe('subscription options', () => {
  it('[5.0 MQTT-3.8.3-3] No Local: a client does not get its own messages on that subscription', async () => {
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'nl', protocolVersion: 5 });
    await client.subscribeAsync('nl/t', { qos: 1, nl: true });
    await client.subscribeAsync('nl/marker', { qos: 1 });
    await client.publishAsync('nl/t', 'mine', { qos: 1 });
    const other = await connectClient(tb.url, { clientId: 'nl-other', protocolVersion: 5 });
    await other.publishAsync('nl/t', 'theirs', { qos: 1 });
    await collector.waitFor(1);
    expect(collector.messages.map((m) => m.payload)).toEqual(['theirs']);
  });

  it('Retain As Published keeps the RETAIN flag on live deliveries', async () => {
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'rap', protocolVersion: 5 });
    await client.subscribeAsync('rap/keep', { qos: 1, rap: true });
    await client.subscribeAsync('rap/clear', { qos: 1, rap: false });
    const pub = await connectClient(tb.url, { clientId: 'rap-pub', protocolVersion: 5 });
    await pub.publishAsync('rap/keep', 'k', { qos: 1, retain: true });
    await pub.publishAsync('rap/clear', 'c', { qos: 1, retain: true });
    const messages = await collector.waitFor(2);
    expect(Object.fromEntries(messages.map((m) => [m.topic, m.packet.retain]))).toEqual({ 'rap/keep': true, 'rap/clear': false });
  });

  it('Retain Handling 0 sends retained on every subscribe, 1 only on a new subscription, 2 never', async () => {
    const pub = await connectClient(tb.url, { clientId: 'rh-pub', protocolVersion: 5 });
    await pub.publishAsync('rh/a', 'r', { qos: 1, retain: true });
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'rh', protocolVersion: 5 });
    await client.subscribeAsync('rh/+', { qos: 1, rh: 2 });
    await client.subscribeAsync('rh/#', { qos: 1, rh: 1 });
    await collector.waitFor(1);
    await client.subscribeAsync('rh/#', { qos: 1, rh: 1 }); // not new: nothing
    await client.subscribeAsync('rh/a', { qos: 1, rh: 0 });
    await client.subscribeAsync('rh/a', { qos: 1, rh: 0 }); // again: sent again
    await pub.publishAsync('rh/end', 'end', { qos: 1 });
    await expect.poll(() => collector.messages.some((m) => m.topic === 'rh/end')).toBe(true);
    const retainedCount = collector.messages.filter((m) => m.topic === 'rh/a').length;
    expect(retainedCount).toBe(3);
  });

  it('[5.0 MQTT-3.3.4-3] [5.0 MQTT-3.3.4-4] subscription identifiers of every matching subscription come with the message', async () => {
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'sid', protocolVersion: 5 });
    await client.subscribeAsync('sid/+', { qos: 1, properties: { subscriptionIdentifier: 7 } });
    await client.subscribeAsync('sid/#', { qos: 1, properties: { subscriptionIdentifier: 42 } });
    await client.subscribeAsync('sid/x', { qos: 1 });
    const pub = await connectClient(tb.url, { clientId: 'sid-pub', protocolVersion: 5 });
    await pub.publishAsync('sid/x', 'x', { qos: 1 });
    const [msg] = await collector.waitFor(1);
    const ids = msg!.packet.properties?.subscriptionIdentifier;
    expect((Array.isArray(ids) ? ids : [ids]).sort((a, b) => (a as number) - (b as number))).toEqual([7, 42]);
  });
});

describe('request / response and properties', () => {
  it('[5.0 MQTT-3.3.2-4] [5.0 MQTT-3.3.2-15] [5.0 MQTT-3.3.2-16] [5.0 MQTT-3.3.2-17] [5.0 MQTT-3.3.2-18] [5.0 MQTT-3.3.2-20] forwards response topic, correlation data, content type, format indicator and user properties in order', async () => {
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'props', protocolVersion: 5 });
    await client.subscribeAsync('props/req', { qos: 1 });
    const pub = await connectClient(tb.url, { clientId: 'props-pub', protocolVersion: 5 });
    const properties = {
      responseTopic: 'props/reply',
      correlationData: Buffer.from([1, 2, 3, 0xff]),
      contentType: 'application/json',
      payloadFormatIndicator: true,
      userProperties: { z: 'last-first', a: ['1', '2'], m: 'mid' },
    };
    await pub.publishAsync('props/req', '{"ok":true}', { qos: 1, properties });
    const [msg] = await collector.waitFor(1);
    const got = msg!.packet.properties!;
    expect(got.responseTopic).toBe('props/reply');
    expect(Buffer.from(got.correlationData!).equals(properties.correlationData)).toBe(true);
    expect(got.contentType).toBe('application/json');
    expect(got.payloadFormatIndicator).toBe(true);
    expect(got.userProperties).toEqual(properties.userProperties);
    expect(Object.keys(got.userProperties!)).toEqual(['z', 'a', 'm']);
  });

  it('Payload Format Indicator 1 with invalid UTF-8 is refused with 0x99 (and a reason string)', async () => {
    const { client } = await raw5('pfi');
    client.send({ cmd: 'publish', topic: 'pfi/t', payload: Buffer.from([0xff, 0xfe]), qos: 1, messageId: 3, retain: false, dup: false, properties: { payloadFormatIndicator: true } });
    const puback = await client.next('puback');
    expect(puback).toMatchObject({ messageId: 3, reasonCode: 0x99 });
    expect((puback as { properties?: { reasonString?: string } }).properties?.reasonString).toMatch(/UTF-8/);
  });

  it('[5.0 MQTT-3.1.2-29] Request Problem Information 0: no reason string on PUBACK', async () => {
    const { client } = await raw5('pfi-quiet', { requestProblemInformation: false });
    client.send({ cmd: 'publish', topic: 'pfi/t', payload: Buffer.from([0xff]), qos: 1, messageId: 4, retain: false, dup: false, properties: { payloadFormatIndicator: true } });
    const puback = await client.next('puback');
    expect(puback).toMatchObject({ reasonCode: 0x99 });
    expect((puback as { properties?: { reasonString?: string } }).properties?.reasonString).toBeUndefined();
  });

  it('[5.0 MQTT-3.1.2-28] Response Information only when requested', async () => {
    const asked = await raw5('ri-yes', { requestResponseInformation: true });
    expect(asked.connack.properties?.responseInformation).toBe('response/ri-yes');
    const notAsked = await raw5('ri-no');
    expect(notAsked.connack.properties?.responseInformation).toBeUndefined();
  });

  it('a PUBLISH with no subscribers gets PUBACK 0x10 (no matching subscribers)', async () => {
    const { client } = await raw5('nomatch');
    client.send({ cmd: 'publish', topic: 'nobody/listens', payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false });
    expect(await client.next('puback')).toMatchObject({ reasonCode: 0x10 });
  });
});

describe('will delay', () => {
  it('[5.0 MQTT-3.1.3-9] the will waits for its delay and is not sent if the client reconnects in time', async () => {
    const watch = await connectCollecting(tb.url, { clientId: 'wd-watch', protocolVersion: 5 });
    await watch.client.subscribeAsync('wd/#', { qos: 1 });
    const will = (topic: string) => ({ topic, payload: Buffer.from(topic), qos: 1 as const, retain: false, properties: { willDelayInterval: 1 } });
    const a = await raw5('wd-a', { sessionExpiryInterval: 60 }, { will: will('wd/a') });
    const b = await raw5('wd-b', { sessionExpiryInterval: 60 }, { will: will('wd/b') });
    a.client.destroy();
    b.client.destroy();
    await expect.poll(() => tb.broker.admin.session('wd-b')?.isOnline).toBe(false);
    // b comes back at once: its will is cancelled.
    await raw5('wd-b', { sessionExpiryInterval: 60 }, { clean: false });
    const [msg] = await watch.collector.waitFor(1, 4000);
    expect(msg!.topic).toBe('wd/a');
    await watch.client.publishAsync('wd/end', 'end', { qos: 1 });
    await watch.collector.waitFor(2);
    expect(watch.collector.messages.map((m) => m.topic)).toEqual(['wd/a', 'wd/end']);
  });

  it('the will goes out when the session ends, if that comes before the delay', async () => {
    const watch = await connectCollecting(tb.url, { clientId: 'wd2-watch', protocolVersion: 5 });
    await watch.client.subscribeAsync('wd2/#', { qos: 1 });
    const { client } = await raw5('wd2', { sessionExpiryInterval: 1 }, { will: { topic: 'wd2/x', payload: Buffer.from('bye'), qos: 1, retain: false, properties: { willDelayInterval: 3600 } } });
    client.destroy();
    const [msg] = await watch.collector.waitFor(1, 4000);
    expect(msg!.payload).toBe('bye');
  });
});

describe('maximum QoS', () => {
  it('[5.0 MQTT-3.2.2-9] announces Maximum QoS when below 2 and refuses a PUBLISH above it with 0x9B', async () => {
    const own = await startBroker({ limits: { maximumQoS: 1 } });
    extra.push(own);
    const { client, connack } = await raw5('mq', {}, {}, own.port);
    expect(connack.properties?.maximumQoS).toBe(1);
    // [5.0 MQTT-3.2.2-10] a SUBSCRIBE asking for QoS 2 is still accepted.
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'mq/t', qos: 2 }] });
    await client.next('suback');
    client.send({ cmd: 'publish', topic: 'mq/t', payload: Buffer.from('x'), qos: 2, messageId: 2, retain: false, dup: false });
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x9b });
  });
});

describe('server keep alive', () => {
  it('a client asking for more than maxKeepAlive is told the server keep alive and held to it', async () => {
    const own = await startBroker({ limits: { maxKeepAlive: 1 } });
    extra.push(own);
    const { client, connack } = await raw5('ska', {}, { keepalive: 600 }, own.port);
    expect(connack.properties?.serverKeepAlive).toBe(1);
    const startedAt = Date.now();
    await client.waitClosed(5000);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1400);
    const within = await raw5('ska2', {}, { keepalive: 30 });
    expect(within.connack.properties?.serverKeepAlive).toBeUndefined();
  });
});

describe('enhanced authentication', () => {
  async function authConnect(respond: (nonce: Buffer) => Buffer) {
    const client = await RawClient.open(tb.port, 5);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'ea', clean: true, keepalive: 0, properties: { authenticationMethod: 'HMAC-CHALLENGE' } });
    const challenge = (await client.next('auth')) as IAuthPacket;
    expect(challenge.reasonCode).toBe(0x18);
    const nonce = challenge.properties!.authenticationData!;
    client.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'HMAC-CHALLENGE', authenticationData: respond(nonce) } });
    return { client, connack: (await client.next('connack')) as IConnackPacket };
  }

  it('a CONNECT → AUTH → AUTH → CONNACK exchange with the right proof succeeds', async () => {
    const { connack } = await authConnect((nonce) => createHmac('sha256', SECRET).update(nonce).digest());
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties?.authenticationMethod).toBe('HMAC-CHALLENGE');
    expect(connack.properties?.authenticationData?.toString()).toBe('welcome');
  });

  it('a wrong proof gets CONNACK 0x87', async () => {
    const { client, connack } = await authConnect(() => Buffer.alloc(32));
    expect(connack.reasonCode).toBe(0x87);
    await client.waitClosed();
  });

  it('an unknown method gets CONNACK 0x8C', async () => {
    const { connack } = await raw5('ea-unknown', { authenticationMethod: 'KERBEROS' });
    expect(connack.reasonCode).toBe(0x8c);
  });

  it('re-authentication on an established connection (AUTH 0x19) ends with AUTH 0x00', async () => {
    const { client } = await authConnect((nonce) => createHmac('sha256', SECRET).update(nonce).digest());
    client.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'HMAC-CHALLENGE' } });
    const challenge = (await client.next('auth')) as IAuthPacket;
    expect(challenge.reasonCode).toBe(0x18);
    const proof = createHmac('sha256', SECRET).update(challenge.properties!.authenticationData!).digest();
    client.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'HMAC-CHALLENGE', authenticationData: proof } });
    expect(await client.next('auth')).toMatchObject({ reasonCode: 0 });
    client.send({ cmd: 'pingreq' });
    await client.next('pingresp');
  });

  it('AUTH from a client that did not choose a method is a protocol error', async () => {
    const { client } = await raw5('ea-none');
    client.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'HMAC-CHALLENGE' } });
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
  });
});
