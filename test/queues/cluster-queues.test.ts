/**
 * Durable queues in cluster mode, on a real 3-server JetStream engine with three Midge nodes
 * (child processes): messages wait in the queue's stream with no consumer and go to a consumer
 * on another node; two consumers on two nodes share the messages, each to exactly one; a
 * consumer's node SIGKILLed with messages unacknowledged leaves them to a consumer on another
 * node (the engine's ack wait); and `maxDeliveries` unacknowledged deliveries send a message to
 * `$dlq/<queue>` with the reason as MQTT 5 user properties.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { useConfigFile } from '../helpers/temp.js';
import { connectCollecting } from '../helpers/clients.js';
import { queueStream } from '../../src/cluster/work-queues.js';
import { skipMessage } from '../cluster/engine.js';
import { type MidgeNode, useThreeNodes, waitUntil } from '../cluster/nodes.js';

const skip = skipMessage('test/queues/cluster-queues.test.ts');

const configFile = useConfigFile('midge-cluster-queues-', {
  queues: [
    // A short ack wait: how long a dead node keeps what it took (a live one renews it).
    { name: 'jobs', topics: ['jobs/#'], maxDeliveries: 5, ackWaitSeconds: 3 },
    { name: 'poison', topics: ['poison/#'], maxDeliveries: 2, ackWaitSeconds: 3 },
    { name: 'acked', topics: ['acked/#'] },
    { name: 'oldest', topics: ['oldest/#'], maxMessages: 5, overflow: 'drop-oldest' },
    { name: 'newest', topics: ['newest/#'], maxMessages: 5, overflow: 'drop-newest' },
    { name: 'rejecting', topics: ['rejecting/#'], maxMessages: 5, overflow: 'reject' },
  ],
});

async function publishNumbered(node: MidgeNode, topic: string, from: number, count: number): Promise<void> {
  const { client } = await connectCollecting(node.url, { clientId: `pub-${topic.replace(/\W/g, '')}-${from}`, protocolVersion: 5 });
  // Each PUBACK comes after the engine stored the message in the queue's stream.
  for (let n = from; n < from + count; n++) await client.publishAsync(topic, String(n), { qos: 1 });
  await client.endAsync();
}

type SendPacket = (packet: { cmd: string }, callback?: () => void, ...rest: unknown[]) => void;

/**
 * A consumer that never acknowledges: its PUBACKs are swallowed on the way out (a handleMessage
 * that never calls back would stop MQTT.js reading after the first message), so what it gets
 * stays in flight.
 */
async function hoarder(node: MidgeNode, clientId: string, filter: string): Promise<{ client: MqttClient; got: string[] }> {
  const client = await mqtt.connectAsync(node.url, { clientId, reconnectPeriod: 0, protocolVersion: 5 });
  client.on('error', () => undefined);
  const internals = client as unknown as { _sendPacket: SendPacket };
  const send = internals._sendPacket.bind(client);
  internals._sendPacket = (packet, callback, ...rest) => (packet.cmd === 'puback' ? callback?.() : send(packet, callback, ...rest));
  const got: string[] = [];
  client.on('message', (_topic, payload) => got.push(String(payload)));
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, got };
}

describe.skipIf(skip !== undefined)('cluster: durable queues on the engine', { timeout: 90_000 }, () => {
  const cluster = useThreeNodes({ env: { MIDGE_CONFIG: configFile, MIDGE_LIMITS__MAX_INFLIGHT: '10' } });

  it('waits with no consumer, then goes in order to a consumer on another node', async () => {
    const [n1, n2, n3] = cluster.nodes as [MidgeNode, MidgeNode, MidgeNode];
    await publishNumbered(n1, 'jobs/a', 0, 50);
    // Every node reports the stream's depth (not only the one the messages were published on).
    await waitUntil('n3 reports depth 50', async () => ((await n3.get('/api/v1/queues/jobs')).body as { depth: number }).depth === 50, 20_000);
    const { client, collector } = await connectCollecting(n2.url, { clientId: 'q-c1', protocolVersion: 5 });
    await client.subscribeAsync('$queue/jobs', { qos: 1 });
    const got = await collector.waitFor(50, 30_000);
    expect(got.map((m) => m.payload)).toEqual(Array.from({ length: 50 }, (_, n) => String(n)));
    expect(got.every((m) => m.topic === 'jobs/a')).toBe(true);
    await client.endAsync();
  });

  it("a publish that matches a queue is acknowledged only once the queue's stream holds it", async () => {
    const [n1] = cluster.nodes as [MidgeNode];
    const { connect } = await import('nats');
    const nc = await connect({ servers: cluster.engine.urls });
    try {
      const jsm = await nc.jetstreamManager();
      const stored = async (): Promise<number> => (await jsm.streams.info(queueStream('acked'))).state.messages;
      const { client } = await connectCollecting(n1.url, { clientId: 'q-acked-pub', protocolVersion: 5 });
      for (let n = 1; n <= 10; n++) {
        await client.publishAsync('acked/x', String(n), { qos: 1 });
        expect(await stored()).toBe(n);
      }
    } finally {
      await nc.close();
    }
  });

  it.each([
    ['oldest', ['3', '4', '5', '6', '7']],
    ['newest', ['0', '1', '2', '3', '4']],
  ])('a bound of 5 with overflow drop-%s keeps that side (the stream discards the other)', async (side, kept) => {
    const [n1, n2] = cluster.nodes as [MidgeNode, MidgeNode];
    await publishNumbered(n1, `${side}/x`, 0, 8);
    const { client, collector } = await connectCollecting(n2.url, { clientId: `q-bound-${side}`, protocolVersion: 5 });
    await client.subscribeAsync(`$queue/${side}`, { qos: 1 });
    const got = await collector.waitFor(5, 20_000);
    expect(got.map((m) => m.payload)).toEqual(kept);
    // A marker published now comes next: nothing of the discarded side is left ahead of it (one consumer: queue order).
    await publishNumbered(n1, `${side}/x`, 100, 1);
    expect((await collector.waitFor(6, 20_000)).map((m) => m.payload)).toEqual([...kept, '100']);
    if (side === 'newest') {
      // The stream refused 3 at its bound; the publishing node counts them.
      const status = (await n1.get(`/api/v1/queues/${side}`)).body as { dropped: number; droppedByReason: Record<string, number> };
      expect(status).toMatchObject({ dropped: 3, droppedByReason: { 'queue-full': 3 } });
    }
  });

  it('a bound of 5 with overflow reject: the publisher hears what a single node says (5.0 0x97 Quota exceeded, 3.1.1 a plain PUBACK)', async () => {
    const [n1, n2] = cluster.nodes as [MidgeNode, MidgeNode];
    const v5 = await mqtt.connectAsync(n1.url, { clientId: 'q-reject-v5', reconnectPeriod: 0, protocolVersion: 5 });
    const refused: string[] = [];
    const publish = (client: MqttClient, payload: string, qos: 1 | 2 = 1): Promise<void> =>
      client.publishAsync('rejecting/x', payload, { qos }).then(
        () => undefined,
        (error: { code?: number }) => void refused.push(`${payload}:${error.code ?? -1}`),
      );
    for (let n = 0; n < 8; n++) await publish(v5, String(n));
    // The stream refused 5, 6 and 7 at its bound; the PUBACK waited for that answer [5.0 MQTT-3.4.2-1].
    expect(refused).toEqual(['5:151', '6:151', '7:151']);
    // QoS 2: the PUBREC says it [5.0 MQTT-3.5.2-1].
    await publish(v5, 'qos2', 2);
    expect(refused).toEqual(['5:151', '6:151', '7:151', 'qos2:151']);
    // A 3.1.1 PUBACK has no reason code: a plain one, as from a single node's queue.
    const v4 = await mqtt.connectAsync(n1.url, { clientId: 'q-reject-v4', reconnectPeriod: 0, protocolVersion: 4 });
    await publish(v4, 'v4');
    // Another destination took it (a subscriber on n2): no refusal to tell, as on a single node.
    const { client: watcher, collector: watched } = await connectCollecting(n2.url, { clientId: 'q-reject-watch', protocolVersion: 5 });
    await watcher.subscribeAsync('rejecting/#', { qos: 1 });
    let probes = 0;
    await waitUntil('n1 routes rejecting/x to n2', async () => {
      await publish(v5, `probe${++probes}`);
      return watched.messages.some((m) => m.payload === `probe${probes}`);
    }, 30_000);
    expect(refused.filter((r) => r.startsWith(`probe${probes}:`))).toEqual([]);
    await watcher.endAsync();
    await Promise.all([v5.endAsync(), v4.endAsync()]);
    const status = (await n1.get('/api/v1/queues/rejecting')).body as { droppedByReason: Record<string, number> };
    expect(status.droppedByReason['queue-full']).toBeGreaterThanOrEqual(5);
    // What the stream kept is the first five, and nothing refused is behind them.
    const { client, collector } = await connectCollecting(n2.url, { clientId: 'q-reject-worker', protocolVersion: 5 });
    await client.subscribeAsync('$queue/rejecting', { qos: 1 });
    expect((await collector.waitFor(5, 20_000)).map((m) => m.payload)).toEqual(['0', '1', '2', '3', '4']);
    // Room again once the engine has the consumer's acks (the depth is the stream's).
    await waitUntil('the stream empty', async () => ((await n1.get('/api/v1/queues/rejecting')).body as { depth: number }).depth === 0, 20_000);
    await publishNumbered(n1, 'rejecting/x', 100, 1);
    expect((await collector.waitFor(6, 20_000)).map((m) => m.payload)).toEqual(['0', '1', '2', '3', '4', '100']);
  });

  it('two consumers on two nodes share the messages, each to exactly one', async () => {
    const [n1, n2, n3] = cluster.nodes as [MidgeNode, MidgeNode, MidgeNode];
    const a = await connectCollecting(n2.url, { clientId: 'q-share-a', protocolVersion: 5 });
    const b = await connectCollecting(n3.url, { clientId: 'q-share-b', protocolVersion: 5 });
    await a.client.subscribeAsync('$queue/jobs', { qos: 1 });
    await b.client.subscribeAsync('$queue/jobs', { qos: 1 });
    await publishNumbered(n1, 'jobs/b', 0, 300);
    await waitUntil('300 consumed', () => a.collector.messages.length + b.collector.messages.length >= 300, 30_000);
    const all = [...a.collector.messages, ...b.collector.messages].map((m) => m.payload);
    expect(new Set(all).size).toBe(300);
    expect(a.collector.messages.length).toBeGreaterThan(0);
    expect(b.collector.messages.length).toBeGreaterThan(0);
    // Nothing more: ten markers published now are the only messages after the 300 (no second copy ahead of them).
    await publishNumbered(n1, 'jobs/b', 1000, 10);
    await waitUntil('310 consumed', () => a.collector.messages.length + b.collector.messages.length >= 310, 30_000);
    const withMarkers = [...a.collector.messages, ...b.collector.messages].map((m) => m.payload);
    expect(withMarkers).toHaveLength(310);
    expect(new Set(withMarkers).size).toBe(310);
  });

  it('after maxDeliveries unacknowledged deliveries a message goes to $dlq/<queue> with the reason; a replay on any node puts it back once', async () => {
    const [n1, n2, n3] = cluster.nodes as [MidgeNode, MidgeNode, MidgeNode];
    const dlq = await connectCollecting(n3.url, { clientId: 'q-dlq', protocolVersion: 5 });
    await dlq.client.subscribeAsync('$dlq/poison', { qos: 1 });
    await publishNumbered(n1, 'poison/x', 7, 1);
    // Two consumers in turn take it and leave without acknowledging it: each return is a delivery.
    for (const id of ['q-bad-1', 'q-bad-2']) {
      const bad = await hoarder(n2, id, '$queue/poison');
      await waitUntil(`${id} got it`, () => bad.got.length === 1, 30_000);
      await bad.client.endAsync(true);
    }
    const [dead] = await dlq.collector.waitFor(1, 30_000);
    expect(dead!.payload).toBe('7');
    const user = dead!.packet.properties?.userProperties as Record<string, string>;
    expect(user).toMatchObject({ reason: 'max-deliveries', queue: 'poison', topic: 'poison/x', deliveries: '2' });
    // And no consumer gets it again.
    const { client, collector } = await connectCollecting(n1.url, { clientId: 'q-after', protocolVersion: 5 });
    await client.subscribeAsync('$queue/poison', { qos: 1 });
    // A marker published now is the first and only message it gets: the dead-lettered one is not ahead of it.
    await publishNumbered(n1, 'poison/x', 100, 1);
    expect((await collector.waitFor(1, 20_000)).map((m) => m.payload)).toEqual(['100']);

    // Held for replay in the engine: every node lists it, and a replay on any node puts it back once, cluster-wide.
    const heldOn = async (node: MidgeNode): Promise<number | undefined> =>
      ((await node.get('/api/v1/dlq')).body as Array<{ name: string; held: number }>).find((d) => d.name === 'poison')?.held;
    await waitUntil('n3 lists the dead letter', async () => (await heldOn(n3)) === 1, 20_000);
    const replay = async (node: MidgeNode): Promise<unknown> =>
      (await fetch(`http://127.0.0.1:${node.httpPort}/api/v1/dlq/poison/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json();
    expect(await replay(n2)).toEqual({ replayed: 1, into: '$queue/poison' });
    const [, back] = await collector.waitFor(2, 20_000);
    expect(back!.payload).toBe('7');
    expect(back!.topic).toBe('poison/x');
    expect(back!.packet.properties?.userProperties).toBeUndefined();
    expect(await replay(n3)).toEqual({ replayed: 0, into: '$queue/poison' });
  });

  it("a consumer's node SIGKILLed with messages unacknowledged: a consumer on another node gets them", async () => {
    const [n1, n2, n3] = cluster.nodes as [MidgeNode, MidgeNode, MidgeNode];
    const held = await hoarder(n3, 'q-hoarder', '$queue/jobs');
    await publishNumbered(n1, 'jobs/c', 100, 8);
    await waitUntil('the hoarder holds 8', () => held.got.length === 8, 30_000).catch((error: Error) => {
      throw new Error(`${error.message} (it holds ${held.got.length})`);
    });
    const { client, collector } = await connectCollecting(n2.url, { clientId: 'q-survivor', protocolVersion: 5 });
    await client.subscribeAsync('$queue/jobs', { qos: 1 });
    await n3.kill();
    // Within the queue's ack wait (3 s) after the kill, plus the pull's own wait.
    const got = await collector.waitFor(8, 45_000);
    expect(new Set(got.map((m) => m.payload))).toEqual(new Set(held.got));
    expect(got.every((m) => m.packet.dup === false)).toBe(true); // a new delivery to this consumer
  });
});
