/** The level store across broker restarts (in-process), bounds, and acks that wait for commits. */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet';
import { LevelStore, MemoryStore, type StoreOp } from '../../src/store/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient, connectCollecting, RawClient } from '../helpers/clients.js';
import { makeTempDir } from '../helpers/temp.js';

const dirs: string[] = [];
const brokers: TestBroker[] = [];
afterEach(async () => {
  await closeAllClients();
  for (const b of brokers.splice(0)) await b.stop();
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function levelBroker(dataDir: string, extra: Parameters<typeof startBroker>[0] = {}, parts: Parameters<typeof startBroker>[1] = {}): Promise<TestBroker> {
  const tb = await startBroker({ dataDir, store: { type: 'level' }, ...extra }, parts);
  brokers.push(tb);
  return tb;
}

async function rawConnect(port: number, clientId: string, clean: boolean, version: 4 | 5 = 4, properties?: Record<string, unknown>) {
  const client = await RawClient.open(port, version);
  client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId, clean, keepalive: 0, ...(properties ? { properties } : {}) });
  const connack = (await client.next('connack')) as IConnackPacket;
  return { client, connack };
}

describe('restart with the level store', () => {
  it('keeps sessions, subscriptions, in-flight (resent with DUP) and queued messages in order, and retained', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    let tb = await levelBroker(dir);
    const sub = await rawConnect(tb.port, 'dur-sub', false);
    sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'dur/#', qos: 1 }] });
    await sub.client.next('suback');
    const pub = await connectClient(tb.url, { clientId: 'dur-pub' });
    await pub.publishAsync('dur/retained', 'kept', { qos: 1, retain: true });
    await pub.publishAsync('dur/a', 'in-flight', { qos: 1 });
    const inflight = (await sub.client.next('publish')) as IPublishPacket;
    // (the retained publish was delivered live first, with RETAIN cleared; ack it)
    sub.client.send({ cmd: 'puback', messageId: inflight.messageId! });
    const second = (await sub.client.next('publish')) as IPublishPacket;
    expect(second.payload.toString()).toBe('in-flight');
    sub.client.destroy();
    await expect.poll(() => tb.broker.admin.session('dur-sub')?.isOnline).toBe(false);
    for (let i = 0; i < 5; i++) await pub.publishAsync('dur/q', `queued-${i}`, { qos: 1 });
    await pub.endAsync();
    await tb.stop();

    tb = await levelBroker(dir);
    const back = await rawConnect(tb.port, 'dur-sub', false);
    expect(back.connack.sessionPresent).toBe(true);
    const resent = (await back.client.next('publish')) as IPublishPacket;
    expect(resent).toMatchObject({ dup: true, messageId: second.messageId });
    expect(resent.payload.toString()).toBe('in-flight');
    const queued: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = (await back.client.next('publish')) as IPublishPacket;
      queued.push(p.payload.toString());
      back.client.send({ cmd: 'puback', messageId: p.messageId! });
    }
    expect(queued).toEqual(['queued-0', 'queued-1', 'queued-2', 'queued-3', 'queued-4']);
    // The subscription survived too: a new message reaches the resumed session.
    const pub2 = await connectClient(tb.url, { clientId: 'dur-pub2' });
    await pub2.publishAsync('dur/after', 'after restart', { qos: 1 });
    expect(((await back.client.next('publish')) as IPublishPacket).payload.toString()).toBe('after restart');
    expect(tb.broker.admin.retained('dur/retained')?.payload.toString()).toBe('kept');
  });

  it('retained messages survive a restart', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    let tb = await levelBroker(dir);
    const pub = await connectClient(tb.url, { clientId: 'ret-pub' });
    await pub.publishAsync('keep/me', 'retained value', { qos: 1, retain: true });
    await pub.publishAsync('drop/me', 'x', { qos: 1, retain: true });
    await pub.publishAsync('drop/me', '', { qos: 1, retain: true });
    await pub.endAsync();
    await tb.stop();
    tb = await levelBroker(dir);
    expect(tb.broker.admin.retained('keep/me')?.payload.toString()).toBe('retained value');
    expect(tb.broker.admin.retained('drop/me')).toBeUndefined();
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'ret-sub' });
    await client.subscribeAsync('keep/#', { qos: 1 });
    const [msg] = await collector.waitFor(1);
    expect(msg).toMatchObject({ topic: 'keep/me', payload: 'retained value' });
    expect(msg!.packet.retain).toBe(true);
  });

  it('purges on start the sessions whose expiry passed while the broker was down', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    let tb = await levelBroker(dir);
    const short = await rawConnect(tb.port, 'expires-soon', true, 5, { sessionExpiryInterval: 60 });
    const long = await rawConnect(tb.port, 'expires-later', true, 5, { sessionExpiryInterval: 3600 });
    short.client.send({ cmd: 'disconnect' });
    long.client.send({ cmd: 'disconnect' });
    await Promise.all([short.client.waitClosed(), long.client.waitClosed()]);
    await tb.stop();
    // Restart "two minutes later" through the injected clock.
    const later = Date.now() + 120_000;
    tb = await levelBroker(dir, {}, { now: () => later });
    expect(tb.broker.admin.session('expires-soon')).toBeUndefined();
    expect(tb.broker.admin.session('expires-later')).toBeDefined();
    await tb.stop();
    // And the purge reached the disk: a third start does not see it either.
    tb = await levelBroker(dir);
    expect(tb.broker.admin.session('expires-soon')).toBeUndefined();
  });

  it('QoS 2 publisher state survives: a PUBLISH resent after the restart is not delivered twice', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    let tb = await levelBroker(dir);
    const sub = await rawConnect(tb.port, 'q2r-sub', false);
    sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q2r/t', qos: 2 }] });
    await sub.client.next('suback');
    sub.client.destroy();
    const pub = await rawConnect(tb.port, 'q2r-pub', false);
    const publish = { cmd: 'publish', topic: 'q2r/t', payload: Buffer.from('once'), qos: 2, messageId: 7, retain: false, dup: false } as const;
    pub.client.send(publish);
    await pub.client.next('pubrec');
    pub.client.destroy();
    await tb.stop();
    tb = await levelBroker(dir);
    const pubBack = await rawConnect(tb.port, 'q2r-pub', false);
    // The publisher did get PUBREC, but resends anyway (allowed): it must not be routed again.
    pubBack.client.send({ ...publish, dup: true });
    await pubBack.client.next('pubrec');
    pubBack.client.send({ cmd: 'pubrel', messageId: 7 });
    await pubBack.client.next('pubcomp');
    const subBack = await rawConnect(tb.port, 'q2r-sub', false);
    const first = (await subBack.client.next('publish')) as IPublishPacket;
    expect(first.payload.toString()).toBe('once');
    subBack.client.send({ cmd: 'pubrec', messageId: first.messageId! });
    await subBack.client.next('pubrel');
    subBack.client.send({ cmd: 'pubcomp', messageId: first.messageId! });
    await expect.poll(() => tb.broker.admin.session('q2r-sub')?.inflightCount).toBe(0);
    expect(subBack.client.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
  });
});

describe('delivery records on disk', () => {
  /** A persistent MQTT 5 subscriber with a window of `receiveMaximum`, so most deliveries queue first. */
  async function narrowSubscriber(port: number, clientId: string, receiveMaximum: number) {
    const sub = await rawConnect(port, clientId, false, 5, { sessionExpiryInterval: 3600, receiveMaximum });
    sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rec/#', qos: 1 }] });
    await sub.client.next('suback');
    return sub;
  }

  it('none is left behind when a delivery from the queue is acknowledged before its sending is written', async () => {
    const store = new GatedStore();
    const tb = await startBroker({}, { store });
    brokers.push(tb);
    const sub = await narrowSubscriber(tb.port, 'rec-sub', 1);
    const pub = await RawClient.connect(tb.port, { clientId: 'rec-pub' });
    for (const [id, text] of [[1, 'm1'], [2, 'm2']] as const) {
      pub.send({ cmd: 'publish', topic: 'rec/t', payload: Buffer.from(text), qos: 1, messageId: id, retain: false, dup: false });
    }
    // Both acknowledged: m1's sending and m2's queued record are on disk.
    await pub.next('puback');
    await pub.next('puback');
    const m1 = (await sub.client.next('publish')) as IPublishPacket;
    // Keep the committer busy with an unrelated write, so what follows waits in the next batch.
    store.hold();
    pub.send({ cmd: 'publish', topic: 'other/t', payload: Buffer.from('r'), qos: 1, messageId: 3, retain: true, dup: false });
    await expect.poll(() => store.waitingWrites).toBe(1);
    sub.client.send({ cmd: 'puback', messageId: m1.messageId! });
    const m2 = (await sub.client.next('publish')) as IPublishPacket;
    expect(m2.payload.toString()).toBe('m2');
    sub.client.send({ cmd: 'puback', messageId: m2.messageId! });
    await expect.poll(() => tb.broker.admin.session('rec-sub')?.inflightCount).toBe(0);
    store.letThrough();
    await tb.broker.admin.drain();
    expect(await store.loadOutgoing('rec-sub')).toEqual([]);
  });

  it('[5.0 MQTT-4.4.0-1] a queued delivery keeps the packet id it was stored with across a restart', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    let tb = await levelBroker(dir);
    const sub = await narrowSubscriber(tb.port, 'ids-sub', 1);
    sub.client.destroy();
    await expect.poll(() => tb.broker.admin.session('ids-sub')?.isOnline).toBe(false);
    const pub = await connectClient(tb.url, { clientId: 'ids-pub' });
    for (let i = 0; i < 3; i++) await pub.publishAsync('rec/t', `q${i}`, { qos: 1 });
    await pub.endAsync();
    await tb.stop();
    const store = new LevelStore(path.join(dir, 'store'));
    await store.open();
    const storedIds = (await store.loadOutgoing('ids-sub')).map((r) => r.packetId);
    await store.close();
    expect(storedIds).toHaveLength(3);
    expect(storedIds.every((id) => typeof id === 'number' && id > 0)).toBe(true);

    tb = await levelBroker(dir);
    const back = await rawConnect(tb.port, 'ids-sub', false, 5, { sessionExpiryInterval: 3600, receiveMaximum: 1 });
    expect(back.connack.sessionPresent).toBe(true);
    const receivedIds: number[] = [];
    for (let i = 0; i < 3; i++) {
      const p = (await back.client.next('publish')) as IPublishPacket;
      expect(p.payload.toString()).toBe(`q${i}`);
      receivedIds.push(p.messageId!);
      back.client.send({ cmd: 'puback', messageId: p.messageId! });
    }
    expect(receivedIds).toEqual(storedIds);
  });

  it('[5.0 MQTT-3.3.1-1] a delivery sent from the queue and not yet acknowledged is resent with DUP and its id after a clean restart', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    let tb = await levelBroker(dir);
    const sub = await narrowSubscriber(tb.port, 'dup-sub', 1);
    const pub = await connectClient(tb.url, { clientId: 'dup-pub' });
    await pub.publishAsync('rec/t', 'first', { qos: 1 });
    await pub.publishAsync('rec/t', 'second', { qos: 1 });
    const first = (await sub.client.next('publish')) as IPublishPacket;
    expect(first.payload.toString()).toBe('first');
    sub.client.send({ cmd: 'puback', messageId: first.messageId! });
    // 'second' waited in the queue for the window, and is sent now; it is never acknowledged.
    const second = (await sub.client.next('publish')) as IPublishPacket;
    expect(second.payload.toString()).toBe('second');
    await pub.endAsync();
    sub.client.destroy();
    await tb.stop();

    tb = await levelBroker(dir);
    const back = await rawConnect(tb.port, 'dup-sub', false, 5, { sessionExpiryInterval: 3600, receiveMaximum: 1 });
    const resent = (await back.client.next('publish')) as IPublishPacket;
    expect(resent).toMatchObject({ dup: true, messageId: second.messageId });
    expect(resent.payload.toString()).toBe('second');
  });
});

describe('bounds', () => {
  it('maxQueuedMessages: newest messages are refused at the bound and counted', async () => {
    const tb = await startBroker({ limits: { maxQueuedMessages: 5 } });
    brokers.push(tb);
    const sub = await rawConnect(tb.port, 'bound-sub', false);
    sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'bound/t', qos: 1 }] });
    await sub.client.next('suback');
    sub.client.send({ cmd: 'disconnect' });
    await sub.client.waitClosed();
    const pub = await connectClient(tb.url, { clientId: 'bound-pub' });
    for (let i = 0; i < 8; i++) await pub.publishAsync('bound/t', `m${i}`, { qos: 1 });
    expect(tb.broker.admin.stats.dropped['queue-full']).toBe(3);
    const back = await rawConnect(tb.port, 'bound-sub', false);
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = (await back.client.next('publish')) as IPublishPacket;
      got.push(p.payload.toString());
      back.client.send({ cmd: 'puback', messageId: p.messageId! });
    }
    expect(got).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it('after a restart the bound counts the stored deliveries, not the span of their sequence numbers', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    let tb = await levelBroker(dir, { limits: { maxQueuedMessages: 5 } });
    const sub = await rawConnect(tb.port, 'span-sub', false);
    sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'span/t', qos: 1 }] });
    await sub.client.next('suback');
    const pub = await connectClient(tb.url, { clientId: 'span-pub' });
    // The first and the last delivery stay unacknowledged, the 19 between are acknowledged: two
    // records stored, with sequence numbers 1 and 21.
    for (let i = 0; i < 21; i++) await pub.publishAsync('span/t', `old${i}`, { qos: 1 });
    const first = (await sub.client.next('publish')) as IPublishPacket;
    for (let i = 1; i < 20; i++) {
      const p = (await sub.client.next('publish')) as IPublishPacket;
      sub.client.send({ cmd: 'puback', messageId: p.messageId! });
    }
    const last = (await sub.client.next('publish')) as IPublishPacket;
    await expect.poll(() => tb.broker.admin.session('span-sub')?.inflightCount).toBe(2);
    sub.client.destroy();
    await pub.endAsync();
    await tb.stop();

    tb = await levelBroker(dir, { limits: { maxQueuedMessages: 5 } });
    const pub2 = await connectClient(tb.url, { clientId: 'span-pub' });
    for (let i = 0; i < 3; i++) await pub2.publishAsync('span/t', `new${i}`, { qos: 1 });
    expect(tb.broker.admin.stats.dropped['queue-full']).toBe(0);
    const back = await rawConnect(tb.port, 'span-sub', false);
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = (await back.client.next('publish')) as IPublishPacket;
      got.push(p.payload.toString());
      back.client.send({ cmd: 'puback', messageId: p.messageId! });
    }
    expect(got).toEqual([first.payload.toString(), last.payload.toString(), 'new0', 'new1', 'new2']);
  });

  it('maxRetainedMessages / maxRetainedBytes: a new retained topic beyond the bound is delivered but not kept', async () => {
    const tb = await startBroker({ limits: { maxRetainedMessages: 2, maxRetainedBytes: 100 } });
    brokers.push(tb);
    const pub = await connectClient(tb.url, { clientId: 'rb-pub' });
    await pub.publishAsync('rb/1', 'a', { qos: 1, retain: true });
    await pub.publishAsync('rb/2', 'b', { qos: 1, retain: true });
    await pub.publishAsync('rb/3', 'c', { qos: 1, retain: true });
    expect(tb.broker.admin.retainedCount).toBe(2);
    expect(tb.broker.admin.retained('rb/3')).toBeUndefined();
    // Replacing an existing topic is fine; exceeding the byte bound is not.
    await pub.publishAsync('rb/1', 'replaced', { qos: 1, retain: true });
    await pub.publishAsync('rb/2', 'x'.repeat(200), { qos: 1, retain: true });
    expect(tb.broker.admin.retained('rb/1')?.payload.toString()).toBe('replaced');
    expect(tb.broker.admin.retained('rb/2')?.payload.toString()).toBe('b');
    expect(tb.broker.admin.stats.retainedRefused).toBe(2);
  });
});

/** A store whose writes wait until the test lets them through, or fail on demand. */
class GatedStore extends MemoryStore {
  private gate: Promise<void> | undefined;
  private release: (() => void) | undefined;
  failNext = false;
  writes: StoreOp[][] = [];

  hold(): void {
    this.gate = new Promise((resolve) => (this.release = resolve));
  }

  letThrough(): void {
    this.release?.();
    this.gate = undefined;
  }

  /** Writes held at the gate right now. */
  waitingWrites = 0;
  /** Client ids whose stored state a broker began to load (their QoS 2 ids are read first). */
  sessionLoads: string[] = [];

  override async loadIncomingQos2(clientId: string): Promise<number[]> {
    this.sessionLoads.push(clientId);
    return super.loadIncomingQos2(clientId);
  }

  override async write(ops: readonly StoreOp[]): Promise<void> {
    if (this.gate) {
      this.waitingWrites++;
      await this.gate;
      this.waitingWrites--;
    }
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk full (simulated)');
    }
    this.writes.push([...ops]);
    return super.write(ops);
  }
}

describe('a recovered session comes back while deliveries for it are being written', () => {
  it('[3.1.1 MQTT-4.3.2-2] deliveries still in the commit batch when the client returns are not lost', async () => {
    // The same store instance outlives the first broker, as the disk does.
    const store = new GatedStore();
    let tb = await startBroker({}, { store });
    const first = await rawConnect(tb.port, 'race-sub', false);
    first.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'race/#', qos: 1 }] });
    await first.client.next('suback');
    first.client.destroy();
    await expect.poll(() => tb.broker.admin.session('race-sub')?.isOnline).toBe(false);
    await tb.stop();

    // After the restart the session's queue stays on disk until its client returns.
    tb = await startBroker({}, { store });
    brokers.push(tb);
    expect(tb.broker.admin.session('race-sub')?.isOutgoingLoaded).toBe(false);
    const pub = await RawClient.connect(tb.port, { clientId: 'race-pub' });
    store.hold();
    pub.send({ cmd: 'publish', topic: 'race/t', payload: Buffer.from('in-the-batch'), qos: 1, messageId: 7, retain: false, dup: false });
    // Its delivery for race-sub is in the batch being written, not yet on disk, when race-sub returns.
    await expect.poll(() => store.waitingWrites).toBe(1);
    const back = await RawClient.open(tb.port, 4);
    back.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'race-sub', clean: false, keepalive: 0 });
    // The broker has begun to load the session (its QoS 2 ids are read first) while the write is held.
    await expect.poll(() => store.sessionLoads.includes('race-sub')).toBe(true);
    store.letThrough();
    expect(await pub.next('puback')).toMatchObject({ messageId: 7 });
    expect(await back.next('connack')).toMatchObject({ sessionPresent: true });
    const delivered = (await back.next('publish')) as IPublishPacket;
    expect(delivered.payload.toString()).toBe('in-the-batch');
  });

  it('a loop of 100 reconnects after restarts under a stream loses no acknowledged message', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const received = new Set<string>();
    const acked: string[] = [];
    for (let round = 0; round < 100; round++) {
      const tb = await startBroker({ dataDir: dir, store: { type: 'level' } });
      if (round === 0) {
        const sub = await rawConnect(tb.port, 'loop-sub', false);
        sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'loop/#', qos: 1 }] });
        await sub.client.next('suback');
        sub.client.destroy();
        await expect.poll(() => tb.broker.admin.session('loop-sub')?.isOnline).toBe(false);
      }
      const pub = await RawClient.connect(tb.port, { clientId: 'loop-pub' });
      // A stream of ten; the subscriber reconnects after the third, while the rest flow.
      let back: RawClient | undefined;
      for (let i = 1; i <= 10; i++) {
        pub.send({ cmd: 'publish', topic: 'loop/t', payload: Buffer.from(`${round}:${i}`), qos: 1, messageId: i, retain: false, dup: false });
        if (i === 3) {
          back = await RawClient.open(tb.port, 4);
          back.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'loop-sub', clean: false, keepalive: 0 });
        }
      }
      for (let i = 1; i <= 10; i++) acked.push(`${round}:${(await pub.next('puback')).messageId}`);
      await back!.next('connack');
      // Everything acknowledged arrives; each PUBLISH is answered, so nothing stays owed.
      while (received.size < acked.length) {
        const p = (await back!.next('publish')) as IPublishPacket;
        received.add(p.payload.toString());
        back!.send({ cmd: 'puback', messageId: p.messageId! });
      }
      await expect.poll(() => tb.broker.admin.session('loop-sub')?.inflightCount).toBe(0);
      back!.destroy();
      pub.destroy();
      await expect.poll(() => tb.broker.admin.session('loop-sub')?.isOnline).toBe(false);
      await tb.stop();
    }
    expect(acked).toHaveLength(1000);
    expect([...received].sort()).toEqual([...acked].sort());
  }, 120_000);
});

describe('acknowledged = committed (group commit)', () => {
  it('PUBACK and SUBACK wait until the batch holding their effects is written', async () => {
    const store = new GatedStore();
    const tb = await startBroker({}, { store });
    brokers.push(tb);
    const sub = await rawConnect(tb.port, 'gc-sub', false);
    const pub = await RawClient.connect(tb.port, { clientId: 'gc-pub' });
    store.hold();
    sub.client.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'gc/t', qos: 1 }] });
    await expect(sub.client.next('suback', 300)).rejects.toThrow(/no suback/);
    store.letThrough();
    await sub.client.next('suback');
    sub.client.destroy();
    await expect.poll(() => tb.broker.admin.session('gc-sub')?.isOnline).toBe(false);

    store.hold();
    pub.send({ cmd: 'publish', topic: 'gc/t', payload: Buffer.from('x'), qos: 1, messageId: 11, retain: false, dup: false });
    await expect(pub.next('puback', 300)).rejects.toThrow(/no puback/);
    store.letThrough();
    expect(await pub.next('puback')).toMatchObject({ messageId: 11 });
    // The queued delivery for the offline persistent subscriber was in that committed batch.
    expect(store.writes.flat().some((op) => op.type === 'putOutgoing' && op.clientId === 'gc-sub')).toBe(true);
  });

  it('a failed write withholds the PUBACK until the retried batch commits; the publisher stays connected', async () => {
    const store = new GatedStore();
    const tb = await startBroker({}, { store });
    brokers.push(tb);
    const sub = await rawConnect(tb.port, 'fail-sub', false);
    sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'fail/t', qos: 1 }] });
    await sub.client.next('suback');
    sub.client.destroy();
    await expect.poll(() => tb.broker.admin.session('fail-sub')?.isOnline).toBe(false);
    const pub = await RawClient.connect(tb.port, { clientId: 'fail-pub' });
    store.failNext = true;
    store.hold();
    pub.send({ cmd: 'publish', topic: 'fail/t', payload: Buffer.from('x'), qos: 1, messageId: 12, retain: false, dup: false });
    await expect.poll(() => store.waitingWrites).toBe(1);
    store.letThrough();
    // The first write fails; its retry is held at the gate: no PUBACK meanwhile.
    store.hold();
    await expect.poll(() => store.waitingWrites).toBe(1);
    expect(tb.broker.admin.storeHealth.isWritable).toBe(false);
    expect(pub.packets.filter((p) => p.cmd === 'puback')).toEqual([]);
    // The retry commits it, and only then is it acknowledged.
    store.letThrough();
    const puback = await pub.next('puback');
    expect(puback).toMatchObject({ messageId: 12 });
    expect(tb.broker.admin.storeHealth.isWritable).toBe(true);
    expect(store.writes.flat().some((op) => op.type === 'putOutgoing' && op.clientId === 'fail-sub')).toBe(true);
  });
});
