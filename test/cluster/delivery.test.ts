/**
 * Cross-node delivery on a real 3-server JetStream engine with three Midge nodes (child
 * processes): QoS 0/1/2, wildcards, `$` topics, odd topic characters, routing only to nodes
 * with subscribers, and the engine objects created by whichever node starts first.
 */
import { describe, expect, it } from 'vitest';
import { connectCollecting } from '../helpers/clients.js';
import { skipMessage } from './engine.js';
import { clusterStatus, type MidgeNode, useThreeNodes, waitForRoutes, waitUntil } from './nodes.js';

const skip = skipMessage('test/cluster/delivery.test.ts');

describe.skipIf(skip !== undefined)('cluster: cross-node delivery', { timeout: 60_000 }, () => {
  const cluster = useThreeNodes();

  it('every node is /ready and sees the others', async () => {
    for (const node of cluster.nodes) {
      expect((await node.get('/ready')).status).toBe(200);
      await waitUntil(`${node.id} sees 3 nodes`, async () => (await clusterStatus(node)).nodes.filter((n) => n.state === 'up').length === 3, 10_000);
    }
  });

  it('QoS 0, 1 and 2 from n1 reach a subscriber on n2, with wildcards, $ rules and odd topics; n3 gets nothing', async () => {
    const [n1, n2, n3] = cluster.nodes as [MidgeNode, MidgeNode, MidgeNode];
    const { client: sub, collector } = await connectCollecting(n2.url, { clientId: 'd-sub', protocolVersion: 5 });
    await sub.subscribeAsync({ 'w/+/leaf': { qos: 1 }, 'w/#': { qos: 2 }, 'odd/#': { qos: 2 }, '+/lead': { qos: 1 } });
    const { client: all, collector: allCollector } = await connectCollecting(n2.url, { clientId: 'd-all', protocolVersion: 5 });
    await all.subscribeAsync({ '#': { qos: 1 }, '$data/#': { qos: 1 } });
    await waitForRoutes(n1, 6);

    const { client: pub } = await connectCollecting(n1.url, { clientId: 'd-pub', protocolVersion: 5 });
    await pub.publishAsync('w/a/leaf', 'q0', { qos: 0 });
    await pub.publishAsync('w/a/leaf', 'q1', { qos: 1 });
    await pub.publishAsync('w/a/leaf', 'q2', { qos: 2 });
    const odd = ['odd/with.dot', 'odd/with space', 'odd//empty', 'odd/'];
    for (const topic of odd) await pub.publishAsync(topic, topic, { qos: 1 });
    await pub.publishAsync('/lead', 'lead', { qos: 1 });
    // [5.0 MQTT-4.7.2-1] a topic starting with $ is not matched by a filter starting with a wildcard.
    await pub.publishAsync('$data/x', 'dollar', { qos: 1 });

    const got = await collector.waitFor(3 + odd.length + 1, 20_000);
    const byPayload = new Map(got.map((m) => [m.payload, m]));
    // Overlapping subscriptions fold into one delivery at the highest granted QoS [5.0 MQTT-3.3.4-2].
    expect(byPayload.get('q0')!.packet.qos).toBe(0);
    expect(byPayload.get('q1')!.packet.qos).toBe(1);
    expect(byPayload.get('q2')!.packet.qos).toBe(2);
    for (const topic of odd) expect(byPayload.get(topic)?.topic).toBe(topic);
    expect(byPayload.get('lead')?.topic).toBe('/lead');
    const allGot = await allCollector.waitFor(3 + odd.length + 2, 20_000);
    const dollar = allGot.filter((m) => m.topic === '$data/x');
    expect(dollar).toHaveLength(1); // through '$data/#' only, never through '#'
    expect(dollar[0]!.packet.qos).toBe(1);
    // Nothing more arrives (e.g. a second copy through another node).
    await new Promise((r) => setTimeout(r, 300));
    expect(collector.messages).toHaveLength(3 + odd.length + 1);

    const status = await clusterStatus(n1);
    expect(status.forwardedByNode.n2).toBeGreaterThanOrEqual(3 + odd.length + 2);
    expect(status.forwardedByNode.n3 ?? 0).toBe(0); // no subscribers there: nothing sent
    expect((await clusterStatus(n3)).forwardedByNode).toEqual({});
    // The same count on /metrics.
    const metrics = String((await n1.get('/metrics')).body);
    expect(metrics).toMatch(new RegExp(`midge_cluster_forwarded_messages_total\\{node="n2"\\} ${status.forwardedByNode.n2}`));
    expect(metrics).toMatch(/midge_cluster_engine_connected 1/);
  });

  it('a QoS 1 publish on n3 fans out to subscribers on n1 and n2, once each; unsubscribe stops it', async () => {
    const [n1, n2, n3] = cluster.nodes as [MidgeNode, MidgeNode, MidgeNode];
    const a = await connectCollecting(n1.url, { clientId: 'f-a' });
    const b = await connectCollecting(n2.url, { clientId: 'f-b' });
    await a.client.subscribeAsync('fan/out', { qos: 1 });
    await b.client.subscribeAsync('fan/+', { qos: 1 });
    await waitUntil('n3 routes fan/out to n1 and n2', async () => {
      const { client: probe } = await connectCollecting(n3.url, { clientId: 'f-probe' });
      await probe.publishAsync('fan/out', 'probe', { qos: 1 });
      await probe.endAsync();
      return a.collector.messages.length > 0 && b.collector.messages.length > 0;
    }, 20_000);
    a.collector.messages.length = 0;
    b.collector.messages.length = 0;
    const { client: pub } = await connectCollecting(n3.url, { clientId: 'f-pub' });
    await Promise.all(Array.from({ length: 50 }, (_, i) => pub.publishAsync('fan/out', `m${i}`, { qos: 1 })));
    await a.collector.waitFor(50, 20_000);
    await b.collector.waitFor(50, 20_000);
    // Per-publisher order is kept across nodes.
    expect(a.collector.messages.map((m) => m.payload)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    expect(b.collector.messages.map((m) => m.payload)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));

    const routesWithBoth = (await clusterStatus(n3)).routes.cluster;
    await b.client.unsubscribeAsync('fan/+');
    await waitUntil('n3 forgets the route to n2', async () => (await clusterStatus(n3)).routes.cluster === routesWithBoth - 1, 20_000);
    const sentToN2 = (await clusterStatus(n3)).forwardedByNode.n2;
    await pub.publishAsync('fan/out', 'after', { qos: 1 });
    await a.collector.waitFor(51, 20_000);
    expect((await clusterStatus(n3)).forwardedByNode.n2).toBe(sentToN2);
  });
});
