/**
 * The ACL applies to each delivery when it is sent (not only when it was queued), and the broker's
 * own `$SYS/…` namespace (and `$share/…` as a topic name) is read-only for clients unless an ACL
 * grants it.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, useBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient, MessageCollector, RawClient } from '../helpers/clients.js';
import { makeTempDir } from '../helpers/temp.js';
import { resolveConfig } from '../../src/config/index.js';

describe('ACL at send time', () => {
  let tb: TestBroker;
  let dir: string;
  let aclFile: string;
  beforeAll(async () => {
    dir = await makeTempDir();
    aclFile = path.join(dir, 'acl');
    writeFileSync(aclFile, 'topic readwrite fleet/#\n');
    tb = await startBroker({ auth: { aclFile } });
  });
  afterAll(async () => {
    await closeAllClients();
    await tb.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('messages queued for an offline client are not delivered after a reload removed its read access', async () => {
    const first = await connectClient(tb.url, { clientId: 'acl-later', clean: false });
    await first.subscribeAsync('fleet/#', { qos: 1 });
    await first.endAsync();
    const publisher = await connectClient(tb.url, { clientId: 'acl-pub' });
    await publisher.publishAsync('fleet/a', 'queued while readable', { qos: 1 });
    // Read access to fleet/a goes; fleet/b stays readable.
    writeFileSync(aclFile, 'topic readwrite fleet/b\ntopic write fleet/#\n');
    tb.broker.reload(resolveConfig({ logLevel: 'silent' }));
    await expect.poll(() => tb.broker.authorizer.canReceive!({ clientId: 'acl-later' }, 'fleet/a')).toBe(false);
    await publisher.publishAsync('fleet/b', 'still readable', { qos: 1 });
    const again = await RawClient.connect(tb.port, { clientId: 'acl-later', clean: false });
    // Only the message it may still read arrives; the queued fleet/a one is not sent.
    expect(await again.next('publish')).toMatchObject({ topic: 'fleet/b' });
    again.send({ cmd: 'pingreq' });
    await again.next('pingresp');
    expect(again.packets.filter((p) => p.cmd === 'publish')).toEqual([]);
  });
});

describe.each([4, 5] as const)('reserved topic names, protocol level %i', (version) => {
  const tb = useBroker();

  // A `$share/…` topic name has no subscriber who could see it, so only 5.0's PUBACK code shows the refusal.
  const topics = version === 5 ? ['$SYS/broker/clients/connected', '$share/group/topic'] : ['$SYS/broker/clients/connected'];
  it.each(topics)('[3.1.1 MQTT-3.3.5-2] a client cannot publish to %s (5.0: PUBACK 0x87; 3.1.1: acknowledged as usual and dropped)', async (topic) => {
    const watcher = await connectClient(tb.url, { clientId: `sys-watch-${version}`, protocolVersion: 5 });
    const collector = new MessageCollector(watcher);
    await watcher.subscribeAsync(['$SYS/#', 'marker'], { qos: 1 });
    const client = await RawClient.connect(tb.port, { clientId: `sys-pub-${version}`, protocolVersion: version });
    client.send({ cmd: 'publish', topic, payload: Buffer.from('99999'), qos: 1, messageId: 4, retain: false, dup: false });
    const puback = await client.next('puback');
    if (version === 5) expect(puback).toMatchObject({ messageId: 4, reasonCode: 0x87 });
    else expect(puback).toMatchObject({ messageId: 4 });
    client.send({ cmd: 'publish', topic: 'marker', payload: Buffer.from('m'), qos: 1, messageId: 5, retain: false, dup: false });
    await client.next('puback');
    await collector.waitFor(1);
    expect(collector.messages.map((m) => m.topic)).toEqual(['marker']);
  });
});

describe('reserved topic names with an ACL', () => {
  let tb: TestBroker;
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir();
    const aclFile = path.join(dir, 'acl');
    // `#` never matches a `$` topic (spec 4.7.2): only the explicit $SYS rule grants it.
    writeFileSync(aclFile, 'topic readwrite #\ntopic readwrite $SYS/gateway/#\n');
    tb = await startBroker({ auth: { aclFile } });
  });
  afterAll(async () => {
    await closeAllClients();
    await tb.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('an ACL rule naming $SYS/… grants it; a # rule does not', async () => {
    const client = await RawClient.connect(tb.port, { clientId: 'sys-acl', protocolVersion: 5 });
    client.send({ cmd: 'publish', topic: '$SYS/gateway/uptime', payload: Buffer.from('1'), qos: 1, messageId: 1, retain: false, dup: false });
    expect(await client.next('puback')).toMatchObject({ messageId: 1, reasonCode: 0x10 });
    client.send({ cmd: 'publish', topic: '$SYS/broker/load', payload: Buffer.from('1'), qos: 1, messageId: 2, retain: false, dup: false });
    expect(await client.next('puback')).toMatchObject({ messageId: 2, reasonCode: 0x87 });
  });
});
