/**
 * Every timer rule of the broker on a ManualClock over in-memory streams: time moves by
 * `clock.advance(ms)`, never by sleeping, and each rule is checked on both sides of its edge.
 */
import { setImmediate as turn } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CredentialExpiry } from '../../src/broker/index.js';
import type { ConfigInput } from '../../src/index.js';
import { startMemoryBroker, type MemoryBroker, type MemoryClient } from '../helpers/memory-broker.js';

let mb: MemoryBroker;
async function start(input: ConfigInput = {}): Promise<void> {
  mb = await startMemoryBroker(input);
}
afterEach(async () => {
  await mb?.close();
});

/** Lets the streams and the commit of what was just done run (no time passes on the clock). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await turn();
}

async function subscriber(topic: string): Promise<MemoryClient> {
  const client = mb.open(5);
  await client.connect({ clientId: `sub-${topic}` });
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] });
  await client.next('suback');
  return client;
}

describe.each([
  { version: 4, spec: '[3.1.1 MQTT-3.1.2-24]' },
  { version: 5, spec: '[5.0 MQTT-3.1.2-22]' },
] as const)('keep-alive, protocol level $version', ({ version, spec }) => {
  beforeEach(() => start());

  it(`${spec} a client silent for 1.5 × its keep-alive is closed, as a network failure (its will goes out)`, async () => {
    const watcher = await subscriber('ka/will');
    const client = mb.open(version);
    await client.connect({ clientId: 'ka', keepalive: 10, will: { topic: 'ka/will', payload: Buffer.from('gone'), qos: 0, retain: false } });
    mb.clock.advance(14_999);
    expect(mb.broker.admin.isConnected('ka')).toBe(true);
    mb.clock.advance(1);
    expect(mb.broker.admin.isConnected('ka')).toBe(false);
    if (version === 5) expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x8d });
    await client.waitClosed();
    expect(await watcher.next('publish')).toMatchObject({ topic: 'ka/will' });
    expect(mb.broker.admin.stats.disconnectsByReason['keepalive-timeout']).toBe(1);
  });

  it(`${spec} any packet restarts the 1.5 × keep-alive period`, async () => {
    const client = mb.open(version);
    await client.connect({ clientId: 'ka-ping', keepalive: 10 });
    mb.clock.advance(10_000);
    client.send({ cmd: 'pingreq' });
    await client.next('pingresp');
    mb.clock.advance(14_999);
    expect(mb.broker.admin.isConnected('ka-ping')).toBe(true);
    mb.clock.advance(1);
    expect(mb.broker.admin.isConnected('ka-ping')).toBe(false);
  });

  it('keep-alive 0 means no timer: a silent client stays', async () => {
    const client = mb.open(version);
    await client.connect({ clientId: 'ka-0', keepalive: 0 });
    mb.clock.advance(365 * 86_400_000);
    expect(mb.broker.admin.isConnected('ka-0')).toBe(true);
    expect(client.isClosed).toBe(false);
  });
});

describe('CONNECT timeout (limits.connectTimeoutMs)', () => {
  beforeEach(() => start({ limits: { connectTimeoutMs: 5000 } }));

  it('a peer that sends no CONNECT in time is closed', async () => {
    const client = mb.open(4);
    mb.clock.advance(4999);
    await settle();
    expect(client.isClosed).toBe(false);
    mb.clock.advance(1);
    await client.waitClosed();
    expect(client.received).toEqual([]);
  });

  it('a peer that does not close its side after the broker ended the connection is cut off 2 s later', async () => {
    const client = mb.open(4);
    client.stream.removeAllListeners('end'); // this peer never answers the broker's end with its own
    mb.clock.advance(5000); // the CONNECT timeout ends the connection
    await settle();
    expect(client.isClosed).toBe(false);
    mb.clock.advance(1999);
    await settle();
    expect(client.isClosed).toBe(false);
    mb.clock.advance(1);
    await client.waitClosed();
  });

  it('a CONNECT in time ends the timer', async () => {
    const client = mb.open(4);
    await client.connect({ clientId: 'in-time' });
    mb.clock.advance(60_000);
    await settle();
    expect(client.isClosed).toBe(false);
    expect(mb.broker.admin.isConnected('in-time')).toBe(true);
  });
});

describe('publish rate (limits.maxPublishRate): a paused reader resumes when the clock has paid the debt', () => {
  beforeEach(() => start({ limits: { maxPublishRate: 5 } }));

  it('past the burst, reading stops; each later PUBLISH waits its 1/rate on the clock, none is dropped', async () => {
    const client = mb.open(5);
    await client.connect({ clientId: 'rate' });
    for (let id = 1; id <= 8; id++) client.send({ cmd: 'publish', topic: 'rate/t', payload: Buffer.from(String(id)), qos: 1, messageId: id, retain: false, dup: false });
    await settle();
    const acked = (): number => client.received.filter((p) => p.cmd === 'puback').length;
    // Five tokens of burst, and the sixth PUBLISH is handled as it makes the debt; then reading waits.
    expect(acked()).toBe(6);
    expect(mb.broker.admin.stats.publishThrottled).toBe(1);
    mb.clock.advance(199);
    await settle();
    expect(acked()).toBe(6);
    mb.clock.advance(1); // 200 ms: the one token owed is back
    await settle();
    expect(acked()).toBe(7);
    mb.clock.advance(200);
    await settle();
    expect(acked()).toBe(8);
    expect(mb.broker.admin.isConnected('rate')).toBe(true);
  });
});

describe('session expiry', () => {
  beforeEach(() => start());

  async function disconnected(version: 4 | 5, clientId: string, fields: object): Promise<void> {
    const client = mb.open(version);
    await client.connect({ clientId, clean: false, ...fields });
    client.destroy();
    await expect.poll(() => mb.broker.admin.isConnected(clientId)).toBe(false);
  }

  it('[5.0 MQTT-3.1.2-23] [5.0 MQTT-4.1.0-2] a session is kept for its expiry interval after the disconnect, then discarded', async () => {
    await disconnected(5, 'exp-10', { properties: { sessionExpiryInterval: 10 } });
    mb.clock.advance(9_999);
    expect(mb.broker.admin.session('exp-10')).toBeDefined();
    mb.clock.advance(1);
    expect(mb.broker.admin.session('exp-10')).toBeUndefined();
  });

  it('[5.0 MQTT-3.1.2-23] the interval counts from the disconnect: time connected does not use it up', async () => {
    const client = mb.open(5);
    await client.connect({ clientId: 'exp-online', clean: false, properties: { sessionExpiryInterval: 10 } });
    mb.clock.advance(60_000);
    expect(mb.broker.admin.session('exp-online')).toBeDefined();
    client.destroy();
    await expect.poll(() => mb.broker.admin.isConnected('exp-online')).toBe(false);
    mb.clock.advance(9_999);
    expect(mb.broker.admin.session('exp-online')).toBeDefined();
    mb.clock.advance(1);
    expect(mb.broker.admin.session('exp-online')).toBeUndefined();
  });

  it('[5.0 MQTT-3.1.2-23] an expiry interval of 0 ends the session with the connection', async () => {
    await disconnected(5, 'exp-0', { properties: { sessionExpiryInterval: 0 } });
    expect(mb.broker.admin.session('exp-0')).toBeUndefined();
  });

  it('[5.0 MQTT-3.1.2-23] 0xFFFFFFFF never expires, and neither does a 3.1.1 persistent session', async () => {
    await disconnected(5, 'exp-never', { properties: { sessionExpiryInterval: 0xffffffff } });
    await disconnected(4, 'exp-311', {});
    mb.clock.advance(10 * 365 * 86_400_000);
    expect(mb.broker.admin.session('exp-never')).toBeDefined();
    expect(mb.broker.admin.session('exp-311')).toBeDefined();
  });

  it('[5.0 MQTT-4.1.0-2] a reconnect stops the countdown; the next disconnect starts it anew', async () => {
    await disconnected(5, 'exp-back', { properties: { sessionExpiryInterval: 10 } });
    mb.clock.advance(8_000);
    await disconnected(5, 'exp-back', { properties: { sessionExpiryInterval: 10 } });
    mb.clock.advance(9_999);
    expect(mb.broker.admin.session('exp-back')).toBeDefined();
    mb.clock.advance(1);
    expect(mb.broker.admin.session('exp-back')).toBeUndefined();
  });
});

describe('will delay', () => {
  beforeEach(() => start());

  const will = (delay: number) => ({ topic: 'wd/will', payload: Buffer.from('late'), qos: 0 as const, retain: false, properties: { willDelayInterval: delay } });

  async function dropWithWill(clientId: string, delay: number, expiry: number): Promise<void> {
    const client = mb.open(5);
    await client.connect({ clientId, clean: false, will: will(delay), properties: { sessionExpiryInterval: expiry } });
    client.destroy();
    await expect.poll(() => mb.broker.admin.isConnected(clientId)).toBe(false);
  }

  it('[5.0 MQTT-3.1.2-8] the will goes out once its delay has passed', async () => {
    const watcher = await subscriber('wd/will');
    await dropWithWill('wd-5', 5, 60);
    mb.clock.advance(4_999);
    await settle();
    expect(watcher.received.filter((p) => p.cmd === 'publish')).toEqual([]);
    mb.clock.advance(1);
    expect(await watcher.next('publish')).toMatchObject({ topic: 'wd/will' });
  });

  it('[5.0 MQTT-3.1.2-8] a session that ends before the delay sends the will when it ends', async () => {
    const watcher = await subscriber('wd/will');
    await dropWithWill('wd-short', 30, 10);
    mb.clock.advance(9_999);
    await settle();
    expect(watcher.received.filter((p) => p.cmd === 'publish')).toEqual([]);
    mb.clock.advance(1);
    expect(await watcher.next('publish')).toMatchObject({ topic: 'wd/will' });
    expect(mb.broker.admin.session('wd-short')).toBeUndefined();
  });

  it('[5.0 MQTT-3.1.3-9] a reconnect before the delay has passed cancels the will', async () => {
    const watcher = await subscriber('wd/will');
    await dropWithWill('wd-back', 5, 60);
    mb.clock.advance(2_000);
    const again = mb.open(5);
    await again.connect({ clientId: 'wd-back', clean: false, properties: { sessionExpiryInterval: 60 } });
    mb.clock.advance(60_000);
    await settle();
    expect(watcher.received.filter((p) => p.cmd === 'publish')).toEqual([]);
  });
});

describe('credential expiry (a token’s lifetime bounds the connection’s)', () => {
  beforeEach(() => start());

  it('closes the connection with DISCONNECT 0x87 when the credential expires, not before', async () => {
    const client = mb.open(5);
    await client.connect({ clientId: 'tok', username: 'alice' });
    const expiry = new CredentialExpiry(mb.broker);
    expiry.arm('tok', 'alice', mb.clock.now() + 60_000, () => true);
    mb.clock.advance(59_999);
    expect(mb.broker.admin.isConnected('tok')).toBe(true);
    mb.clock.advance(1);
    expect(await client.next('disconnect')).toMatchObject({ reasonCode: 0x87 });
    await client.waitClosed();
  });

  it('a credential that is no longer current (re-authenticated) or cancelled closes nothing', async () => {
    const first = mb.open(5);
    await first.connect({ clientId: 'tok-a', username: 'alice' });
    const second = mb.open(5);
    await second.connect({ clientId: 'tok-b', username: 'bob' });
    const expiry = new CredentialExpiry(mb.broker);
    expiry.arm('tok-a', 'alice', mb.clock.now() + 1000, () => false);
    expiry.arm('tok-b', 'bob', mb.clock.now() + 1000, () => true);
    expiry.cancel('tok-b');
    mb.clock.advance(40 * 86_400_000);
    expect(mb.broker.admin.isConnected('tok-a')).toBe(true);
    expect(mb.broker.admin.isConnected('tok-b')).toBe(true);
  });
});
