/**
 * Persistent sessions from any node: a session moves with its client from node to node (its
 * queue and in-flight messages with it), takeover across nodes with DISCONNECT 0x8E, and two
 * CONNECTs racing for one client id on two nodes.
 */
import type { IConnackPacket, IDisconnectPacket, IPublishPacket } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { connectClient, connectCollecting, MessageCollector, RawClient } from '../helpers/clients.js';
import { skipMessage } from './engine.js';
import { clusterStatus, type MidgeNode, useThreeNodes, waitUntil } from './nodes.js';

const skip = skipMessage('test/cluster/sessions.test.ts');

describe.skipIf(skip !== undefined)('cluster: sessions across nodes', { timeout: 60_000 }, () => {
  const cluster = useThreeNodes({ dumpEachTest: true });

  /** Publishes a probe on `from` until the subscriber (on another node) got one: routes have propagated. */
  async function routesReady(from: MidgeNode, topic: string, received: () => boolean): Promise<void> {
    const probe = await connectClient(from.url, { clientId: `probe-${from.id}-${Math.random().toString(36).slice(2)}` });
    await waitUntil(`route for ${topic} on ${from.id}`, async () => {
      await probe.publishAsync(topic, 'probe', { qos: 1 });
      await new Promise((r) => setTimeout(r, 50));
      return received();
    }, 20_000);
    await probe.endAsync();
  }

  it('[3.1.1 MQTT-3.2.2-2] subscriber offline on n1, 1,000 QoS 1 published on n3, reconnect on n2: all 1,000 in order, session present', async () => {
    const [n1, n2, n3] = cluster.nodes as [MidgeNode, MidgeNode, MidgeNode];
    const first = await connectCollecting(n1.url, { clientId: 'mover', clean: false });
    await first.client.subscribeAsync('move/t', { qos: 1 });
    await routesReady(n3, 'move/t', () => first.collector.messages.length > 0);
    await first.client.endAsync();

    const pub = await connectClient(n3.url, { clientId: 'mover-pub' });
    const count = 1000;
    await Promise.all(Array.from({ length: count }, (_, i) => pub.publishAsync('move/t', `m${i}`, { qos: 1 })));

    const second = mqtt.connect(n2.url, { clientId: 'mover', clean: false, reconnectPeriod: 0 });
    const collector = new MessageCollector(second);
    const connack = await new Promise<IConnackPacket>((resolve, reject) => {
      second.once('connect', resolve);
      second.once('error', reject);
    });
    expect(connack.sessionPresent).toBe(true);
    const got = await collector.waitFor(count, 30_000);
    const payloads = got.map((m) => m.payload).filter((p) => p !== 'probe');
    expect(payloads).toEqual(Array.from({ length: count }, (_, i) => `m${i}`));
    // The session now lives on n2: its route moved there.
    await waitUntil('n2 holds the route', async () => (await clusterStatus(n2)).routes.local >= 1, 10_000);
    await waitUntil('n1 dropped the route', async () => (await clusterStatus(n1)).routes.local === 0, 10_000);
    await second.endAsync();
  });

  // The handoff (src/cluster/handoff.ts): without it, what n1 acknowledged between releasing the
  // session and seeing n2's routes matched nobody and was lost (104 in its first run). After it,
  // one publisher window (6-8) was still lost in 4 of 10 moves: what n1 sent on for the session
  // reached n2 before n2 had restored it and was dropped as stray; it now waits for the claim
  // (peer-router.ts). Run counts in the README "Cluster" section.
  it('[3.1.1 MQTT-4.6.0-6] a session moves from n1 to n2 while its publisher on n1 goes on: every acknowledged QoS 1 arrives, in the order published', async () => {
    const [n1, n2] = cluster.nodes as [MidgeNode, MidgeNode, MidgeNode];
    const first = await connectCollecting(n1.url, { clientId: 'handed', clean: false });
    await first.client.subscribeAsync('hand/t', { qos: 1 });
    const pub = await connectClient(n1.url, { clientId: 'handed-pub' });
    const acked: number[] = [];
    let next = 0;
    let isRunning = true;
    const workers = Array.from({ length: 8 }, async () => {
      while (isRunning) {
        const seq = next++;
        await pub.publishAsync('hand/t', String(seq), { qos: 1 });
        acked.push(seq);
      }
    });
    await waitUntil('load running', () => acked.length > 300, 30_000);
    // The same client id on n2: n1 releases the session (3.1.1: its connection is closed).
    const second = await connectCollecting(n2.url, { clientId: 'handed', clean: false });
    const atMove = acked.length;
    await waitUntil('load goes on after the move', () => acked.length > atMove + 1000, 60_000);
    isRunning = false;
    await Promise.all(workers);
    const received = (): number[] => [...first.collector.messages, ...second.collector.messages].map((m) => Number(m.payload));
    await waitUntil('every acknowledged message received', () => { const got = new Set(received()); return acked.every((s) => got.has(s)); }, 30_000).catch(() => undefined);
    const got = new Set(received());
    expect(acked.filter((s) => !got.has(s))).toEqual([]);
    // Duplicates are allowed at QoS 1 (in-flight ones are resent with DUP); first arrivals in order.
    const firsts = received().filter((s, i, all) => all.indexOf(s) === i);
    expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
  }, 120_000);

  it('[5.0 MQTT-3.1.4-3] takeover across nodes: DISCONNECT 0x8E on n1, session present and unacknowledged messages resent with DUP on n2', async () => {
    const [n1, n2, n3] = cluster.nodes as [MidgeNode, MidgeNode, MidgeNode];
    const connect = { protocolVersion: 5 as const, clientId: 'taken', clean: false, properties: { sessionExpiryInterval: 3600 } };
    const old = await RawClient.connect(n1.port, connect);
    old.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'take/t', qos: 1 }] } as never);
    await old.next('suback');
    const pub = await connectClient(n3.url, { clientId: 'taken-pub', protocolVersion: 5 });
    // Until the route reached n3: probes, which the old client receives and never acknowledges.
    await waitUntil('route take/t on n3', async () => {
      await pub.publishAsync('take/t', 'probe', { qos: 1 });
      return old.packets.some((p) => p.cmd === 'publish');
    }, 20_000);
    for (let i = 0; i < 3; i++) await pub.publishAsync('take/t', `u${i}`, { qos: 1 });
    await waitUntil('old client has the 3', () => old.packets.filter((p) => p.cmd === 'publish' && String((p as IPublishPacket).payload).startsWith('u')).length === 3, 10_000);

    const fresh = await RawClient.open(n2.port, 5);
    fresh.send({ cmd: 'connect', protocolId: 'MQTT', keepalive: 0, ...connect } as never);
    const connack = (await fresh.next('connack', 20_000)) as IConnackPacket;
    expect(connack.reasonCode).toBe(0);
    expect(connack.sessionPresent).toBe(true);
    const disconnect = (await old.next('disconnect', 10_000)) as IDisconnectPacket;
    expect(disconnect.reasonCode).toBe(0x8e);
    await old.waitClosed(10_000);
    const resent: IPublishPacket[] = [];
    while (resent.filter((p) => String(p.payload).startsWith('u')).length < 3) resent.push((await fresh.next('publish', 10_000)) as IPublishPacket);
    const unacked = resent.filter((p) => String(p.payload).startsWith('u'));
    expect(unacked.map((p) => String(p.payload))).toEqual(['u0', 'u1', 'u2']);
    for (const p of unacked) expect(p.dup).toBe(true); // [5.0 MQTT-4.4.0-1] resent with DUP
  });

  // Guards: the loser's release request takes the winner's connection over only after
  // its CONNACK went out (else it would get no CONNACK at all).
  it('two CONNECTs with one client id on n2 and n3 at once: exactly one ends up connected', async () => {
    const [, n2, n3] = cluster.nodes as [MidgeNode, MidgeNode, MidgeNode];
    for (let round = 0; round < 2; round++) {
      const connect = { protocolVersion: 5 as const, clientId: `race-${round}`, clean: false, properties: { sessionExpiryInterval: 600 } };
      const [a, b] = await Promise.all([RawClient.open(n2.port, 5), RawClient.open(n3.port, 5)]);
      for (const c of [a, b]) c.send({ cmd: 'connect', protocolId: 'MQTT', keepalive: 0, ...connect } as never);
      const outcomes = await Promise.all(
        [a, b].map(async (c) => {
          const connack = (await c.next('connack', 45_000)) as IConnackPacket;
          return connack.reasonCode;
        }),
      );
      // The loser is refused (0x89) or, when the winner was first by a whole round trip, taken over.
      await waitUntil('one connection left', () => [a, b].filter((c) => !c.isClosed).length === 1, 45_000);
      await new Promise((r) => setTimeout(r, 200));
      const open = [a, b].filter((c) => !c.isClosed);
      expect(open).toHaveLength(1);
      expect(outcomes.filter((code) => code === 0).length).toBeGreaterThanOrEqual(1);
      for (const code of outcomes) expect([0, 0x89]).toContain(code);
      a.destroy();
      b.destroy();
    }
  }, 90_000);
});
