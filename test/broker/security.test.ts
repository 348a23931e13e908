/** Password file and ACL through real sockets: CONNACK codes, SUBACK refusals, filtered delivery. */
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { IConnackPacket, ISubackPacket } from 'mqtt-packet';
import { hashPasswordV7 } from '../../src/auth/index.js';
import { resolveConfig } from '../../src/config/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient, connectCollecting, RawClient } from '../helpers/clients.js';
import { makeTempDir } from '../helpers/temp.js';

let tb: TestBroker;
let dir: string;
let passwordFile: string;
beforeAll(async () => {
  dir = await makeTempDir('midge-sec-');
  passwordFile = path.join(dir, 'passwd');
  const aclFile = path.join(dir, 'acl');
  writeFileSync(passwordFile, `alice:${hashPasswordV7('alice-pw')}\nbob:${hashPasswordV7('bob-pw')}\n`);
  writeFileSync(aclFile, ['user alice', 'topic readwrite home/alice/#', 'topic deny home/alice/secret', 'user bob', 'topic readwrite home/#', 'topic write status/#'].join('\n'));
  tb = await startBroker({ auth: { passwordFile, aclFile } });
});
afterAll(async () => {
  await tb.cleanup();
  await rm(dir, { recursive: true, force: true });
});
afterEach(closeAllClients);

async function connack(version: 4 | 5, username?: string, password?: string): Promise<number> {
  const client = await RawClient.open(tb.port, version);
  client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `c-${Math.random()}`, clean: true, keepalive: 0, ...(username ? { username } : {}), ...(password ? { password: Buffer.from(password) } : {}) });
  const packet = (await client.next('connack')) as IConnackPacket;
  return (packet.returnCode ?? packet.reasonCode)!;
}

describe('password file', () => {
  it('CONNACK: 0 for the right password, bad user name or password 4 / 0x86, none given 5 / 0x87', async () => {
    expect(await connack(4, 'alice', 'alice-pw')).toBe(0);
    expect(await connack(4, 'alice', 'nope')).toBe(4);
    expect(await connack(5, 'alice', 'nope')).toBe(0x86);
    expect(await connack(4)).toBe(5);
    expect(await connack(5)).toBe(0x87);
  });

  it('a reload (SIGHUP) takes a changed password file without dropping connections', async () => {
    const alice = await connectClient(tb.url, { clientId: 'stays', username: 'alice', password: 'alice-pw' });
    writeFileSync(passwordFile, `alice:${hashPasswordV7('alice-pw')}\nbob:${hashPasswordV7('bob-new')}\n`);
    tb.broker.reload(resolveConfig({}));
    await expect.poll(async () => connack(4, 'bob', 'bob-new')).toBe(0);
    expect(alice.connected).toBe(true);
    writeFileSync(passwordFile, `alice:${hashPasswordV7('alice-pw')}\nbob:${hashPasswordV7('bob-pw')}\n`);
    tb.broker.reload(resolveConfig({}));
    await expect.poll(async () => connack(4, 'bob', 'bob-pw')).toBe(0);
  });
});

describe('ACL', () => {
  it('SUBSCRIBE beyond the ACL gets 0x80 (3.1.1) / 0x87 (5.0)', async () => {
    const v4 = await RawClient.connect(tb.port, { clientId: 'acl4', username: 'alice', password: Buffer.from('alice-pw') });
    v4.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'home/alice/#', qos: 1 }, { topic: '#', qos: 1 }] });
    expect(((await v4.next('suback')) as ISubackPacket).granted).toEqual([1, 0x80]);
    const v5 = await RawClient.connect(tb.port, { clientId: 'acl5', protocolVersion: 5, username: 'alice', password: Buffer.from('alice-pw') });
    v5.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'home/bob/#', qos: 1 }] });
    expect(((await v5.next('suback')) as ISubackPacket).granted).toEqual([0x87]);
  });

  it('PUBLISH beyond the ACL: 3.1.1 acked and dropped, 5.0 PUBACK 0x87; nobody receives it', async () => {
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'watcher', username: 'bob', password: 'bob-pw' });
    await client.subscribeAsync('home/#', { qos: 1 });
    const v5 = await RawClient.connect(tb.port, { clientId: 'pub5', protocolVersion: 5, username: 'alice', password: Buffer.from('alice-pw') });
    v5.send({ cmd: 'publish', topic: 'home/bob/door', payload: Buffer.from('x'), qos: 1, messageId: 3, retain: false, dup: false });
    expect(await v5.next('puback')).toMatchObject({ reasonCode: 0x87 });
    const alice = await connectClient(tb.url, { clientId: 'pub4', username: 'alice', password: 'alice-pw' });
    await alice.publishAsync('home/bob/window', 'x', { qos: 1 });
    await alice.publishAsync('home/alice/lamp', 'on', { qos: 1 });
    await collector.waitFor(1);
    expect(collector.messages.map((m) => m.topic)).toEqual(['home/alice/lamp']);
  });

  it('deliveries are checked per topic: a wildcard subscription does not read a denied topic', async () => {
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'alice-sub', username: 'alice', password: 'alice-pw' });
    await client.subscribeAsync('home/alice/#', { qos: 1 });
    const bob = await connectClient(tb.url, { clientId: 'bob-pub', username: 'bob', password: 'bob-pw' });
    await bob.publishAsync('home/alice/secret', 'hidden', { qos: 1 });
    await bob.publishAsync('home/alice/open', 'visible', { qos: 1 });
    await collector.waitFor(1);
    expect(collector.messages.map((m) => m.payload)).toEqual(['visible']);
  });

  it('a will the ACL does not allow is not published', async () => {
    const { client, collector } = await connectCollecting(tb.url, { clientId: 'will-watch', username: 'bob', password: 'bob-pw' });
    await client.subscribeAsync('home/#', { qos: 1 });
    const raw = await RawClient.connect(tb.port, { clientId: 'will-alice', username: 'alice', password: Buffer.from('alice-pw'), will: { topic: 'home/bob/alarm', payload: Buffer.from('x'), qos: 1, retain: false } });
    const allowed = await RawClient.connect(tb.port, { clientId: 'will-bob', username: 'bob', password: Buffer.from('bob-pw'), will: { topic: 'home/bob/gone', payload: Buffer.from('bye'), qos: 1, retain: false } });
    raw.destroy();
    allowed.destroy();
    await collector.waitFor(1);
    expect(collector.messages.map((m) => m.topic)).toEqual(['home/bob/gone']);
  });
});
