/**
 * The crash test across nodes: 10 publishers × 32 in flight (QoS 1 and QoS 2) on n1, persistent
 * subscribers on n3 (one of them away for part of the run). SIGKILL n3 (the subscribers' node),
 * then n1 (the publishers' node). The clients fail over to the surviving nodes; the dead nodes
 * are adopted (their sessions and inbox). Every acknowledged message must arrive, QoS 2 exactly
 * once. (Each publisher's order is not kept across a kill: the inversions are printed, not asserted.)
 */
import mqtt, { Store, type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { skipMessage, startEngine, type Engine } from './engine.js';
import { dumpLogs, startNode, waitUntil, type MidgeNode } from './nodes.js';

const skip = skipMessage('test/cluster/node-death.test.ts');
const IN_FLIGHT = 32;
/** Per publisher: bounds the subscribers' backlog, so it drains within the test's budget. */
const MAX_PER_PUBLISHER = 3000;

function connect(nodes: MidgeNode[], first: number, clientId: string): MqttClient {
  const order = [...nodes.slice(first), ...nodes.slice(0, first)];
  const client = mqtt.connect({
    servers: order.map((n) => ({ host: '127.0.0.1', port: n.port })),
    clientId,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 200,
    connectTimeout: 3000,
    keepalive: 30,
    incomingStore: new Store({ clean: false }),
    outgoingStore: new Store({ clean: false }),
  });
  client.on('error', () => undefined);
  return client;
}

class StreamPublisher {
  readonly acked = new Set<number>();
  /** When each acknowledgement arrived (ms), for the report of what is missing. */
  readonly ackedAt = new Map<number, number>();
  sent = 0;
  /** Publishing holds at this many until raised (a second kill under load holds half back). */
  private limit: number;
  private waiting: Array<() => void> = [];
  private isRunning = true;
  private workers: Promise<void>[] = [];
  constructor(
    readonly client: MqttClient,
    readonly topic: string,
    readonly qos: 1 | 2,
    isHeldBack: boolean,
  ) {
    this.limit = isHeldBack ? MAX_PER_PUBLISHER / 2 : MAX_PER_PUBLISHER;
  }
  start(): void {
    for (let w = 0; w < IN_FLIGHT; w++) this.workers.push(this.work());
  }
  private async work(): Promise<void> {
    while (this.isRunning && this.sent < MAX_PER_PUBLISHER) {
      if (this.sent >= this.limit) {
        await new Promise<void>((resolve) => this.waiting.push(resolve));
        continue;
      }
      const seq = this.sent++;
      try {
        await this.client.publishAsync(this.topic, String(seq), { qos: this.qos });
        this.acked.add(seq);
        this.ackedAt.set(seq, Date.now());
      } catch {
        /* never acknowledged: the cluster owes nothing for it */
      }
    }
  }
  raiseLimit(): void {
    this.limit = MAX_PER_PUBLISHER;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
  async stop(): Promise<void> {
    this.isRunning = false;
    for (const resolve of this.waiting.splice(0)) resolve();
    await Promise.all(this.workers);
  }
}

/**
 * PUBLISH packets that reached a client, per topic (before the QoS 2 flow releases them as
 * messages): tells a message the broker never sent from one the client held back.
 */
const publishesSeen = new Map<string, Set<number>>();

/** Received payloads per topic, in arrival order. */
function collect(client: MqttClient): Map<string, number[]> {
  const got = new Map<string, number[]>();
  client.on('packetreceive', (packet) => {
    if (packet.cmd !== 'publish') return;
    let seen = publishesSeen.get(packet.topic);
    if (!seen) publishesSeen.set(packet.topic, (seen = new Set()));
    seen.add(Number(packet.payload.toString()));
  });
  client.on('message', (topic, payload) => {
    let list = got.get(topic);
    if (!list) got.set(topic, (list = []));
    list.push(Number(payload.toString()));
  });
  return got;
}

describe.skipIf(skip !== undefined)('cluster: node death', () => {
  let engine: Engine;
  let nodes: MidgeNode[] = [];
  const env = { MIDGE_LIMITS__MAX_QUEUED_MESSAGES: '10000000', MIDGE_LIMITS__MAX_QUEUED_BYTES: String(2 * 1024 ** 3) };

  // Each crash run kills two of the three nodes: a fresh engine and nodes for each.
  beforeEach(async () => {
    engine = await startEngine();
    nodes = await Promise.all(['n1', 'n2', 'n3'].map((id) => startNode(engine, id, env)));
  }, 90_000);

  afterEach(async (context) => {
    await dumpLogs(nodes, `node-death-${context.task.name.includes('still publish') ? 'held' : 'plain'}`);
    await Promise.all(nodes.map((n) => n.kill()));
    await engine?.stop();
  }, 30_000);

  /**
   * `isSecondKillUnderLoad`: the publishers hold half their volume back until the first adoption
   * is done, so n1 dies while they still publish. Without it, on a fast run they may have sent
   * everything before the second kill (which then tests only the first death); reported.
   */
  async function crashAcrossNodes(isSecondKillUnderLoad: boolean): Promise<void> {
    const [n1, , n3] = nodes as [MidgeNode, MidgeNode, MidgeNode];
    const sub1 = connect(nodes, 2, 'death-sub-q1');
    const sub2 = connect(nodes, 2, 'death-sub-q2');
    const got1 = collect(sub1);
    const got2 = collect(sub2);
    await Promise.all([sub1, sub2].map((c) => new Promise((r) => c.once('connect', r))));
    await sub1.subscribeAsync('death/q1/+', { qos: 1 });
    await sub2.subscribeAsync('death/q2/+', { qos: 2 });

    const publishers: StreamPublisher[] = [];
    const pubClients: MqttClient[] = [];
    for (let i = 0; i < 10; i++) {
      const client = connect(nodes, 0, `death-pub-${i}`);
      pubClients.push(client);
      await new Promise((r) => client.once('connect', r));
      publishers.push(new StreamPublisher(client, i < 5 ? `death/q1/p${i}` : `death/q2/p${i}`, i < 5 ? 1 : 2, isSecondKillUnderLoad));
    }
    // Routes from n1 to n3 before the load starts.
    await waitUntil('routes to n3', async () => {
      await pubClients[0]!.publishAsync('death/q1/p0', '-1', { qos: 1 });
      await pubClients[5]!.publishAsync('death/q2/p5', '-1', { qos: 2 });
      return (got1.get('death/q1/p0')?.length ?? 0) > 0 && (got2.get('death/q2/p5')?.length ?? 0) > 0;
    }, 20_000);
    for (const list of [...got1.values(), ...got2.values()]) list.length = 0;

    // When each phase began (ms), so the report can say in which phase a missing message was acknowledged.
    const marks: Array<[string, number]> = [['load', Date.now()]];
    for (const p of publishers) p.start();
    const ackedTotal = (): number => publishers.reduce((sum, p) => sum + p.acked.size, 0);
    await waitUntil('load running', () => ackedTotal() > 2000, 30_000);
    // The QoS 1 subscriber goes away for a while: its messages queue in its session meanwhile.
    sub1.end(true);
    marks.push(['sub1 away', Date.now()]);
    await waitUntil('more load', () => ackedTotal() > 4000, 30_000);

    await n3.kill(); // the subscribers' node
    marks.push(['n3 killed', Date.now()]);
    const afterFirstKill = ackedTotal();
    await waitUntil('load goes on after the first kill', () => ackedTotal() > afterFirstKill + 2000, 60_000);
    const sub1again = connect(nodes, 1, 'death-sub-q1');
    const got1again = collect(sub1again);

    // The second death comes once the first one's adoption is complete: a node dying while it is
    // itself adopting another is a known gap (README "Cluster": losses or duplicates were seen).
    const isAdopted = (dead: string): boolean =>
      nodes.some((n) => n.process.logs.some((l) => l.msg === 'cluster: adopted a dead node (its sessions and inbox)' && l.deadNode === dead));
    await waitUntil('n3 adopted', () => isAdopted('n3'), 120_000);
    marks.push(['n3 adopted', Date.now()]);
    if (isSecondKillUnderLoad) {
      for (const p of publishers) p.raiseLimit();
      const afterAdoption = ackedTotal();
      await waitUntil('load goes on after the adoption', () => ackedTotal() > afterAdoption + 1000, 60_000);
    }
    const isPublishingAtSecondKill = publishers.some((p) => p.sent < MAX_PER_PUBLISHER);
    await n1.kill(); // the publishers' node
    marks.push(['n1 killed', Date.now()]);
    process.stderr.write(`node-death: the publishers' node killed ${isPublishingAtSecondKill ? 'while they published' : 'after they had sent everything'}\n`);
    const afterSecondKill = ackedTotal();
    if (isSecondKillUnderLoad) {
      // Not vacuous: publishing goes on after the second kill (through the survivors).
      await waitUntil('load goes on after the second kill', () => ackedTotal() > afterSecondKill + 1000, 90_000);
    } else {
      await waitUntil('load goes on after the second kill', () => ackedTotal() > afterSecondKill + 1000 || publishers.every((p) => p.sent >= MAX_PER_PUBLISHER), 60_000);
    }
    await Promise.all(publishers.map((p) => p.stop()));

    const expected = (p: StreamPublisher): number[] => [...p.acked].sort((a, b) => a - b);
    const receivedOf = (p: StreamPublisher): number[] => {
      if (p.qos === 2) return got2.get(p.topic) ?? [];
      return [...(got1.get(p.topic) ?? []), ...(got1again.get(p.topic) ?? [])];
    };
    await waitUntil(
      'every acknowledged message received',
      () => publishers.every((p) => { const r = new Set(receivedOf(p)); return expected(p).every((s) => r.has(s)); }),
      90_000,
    ).catch(() => undefined);
    const report = publishers.map((p) => {
      const received = receivedOf(p);
      const set = new Set(received);
      const firsts = received.filter((s, i) => received.indexOf(s) === i);
      const inversions = firsts.flatMap((s, i) => (i > 0 && s < firsts[i - 1]! ? [`${firsts[i - 1]}>${s}`] : []));
      return { topic: p.topic, acked: p.acked.size, received: received.length, duplicates: received.length - set.size, missing: expected(p).filter((s) => !set.has(s)).length, inversions: inversions.slice(0, 5) };
    });
    process.stderr.write(`node-death: ${JSON.stringify(report)}\n`);
    const survivors = nodes.filter((n) => n.process.child.exitCode === null && n.process.child.signalCode === null);
    const statuses = await Promise.all(survivors.map(async (n): Promise<Record<string, unknown>> => ({ node: n.id, ...((await n.get('/api/v1/cluster')).body as Record<string, unknown>) })));
    const fields = ['node', 'strayTargetedDeliveries', 'targetedWaitedForClaim', 'qos2Rerouted', 'engineDuplicatesDropped', 'inboxLag', 'pendingEngineAcks', 'releasedSessionsFollowed'];
    process.stderr.write(`node-death: survivors ${JSON.stringify(statuses.map((s) => Object.fromEntries(fields.map((f) => [f, s[f]]))))}\n`);
    if (report.some((r) => r.missing > 0)) {
      // Where the subscribers' sessions are and what they hold; which sequence ranges are missing.
      for (const n of survivors) {
        for (const id of ['death-sub-q1', 'death-sub-q2']) process.stderr.write(`node-death: ${n.id} ${id} ${JSON.stringify((await n.get(`/api/v1/clients/${id}`)).body)}\n`);
      }
      for (const p of publishers) {
        const got = new Set(receivedOf(p));
        const ranges: string[] = [];
        for (const s of expected(p).filter((s) => !got.has(s))) {
          const last = ranges[ranges.length - 1]?.split('-');
          if (last && Number(last[last.length - 1]) === s - 1) ranges[ranges.length - 1] = `${last[0]}-${s}`;
          else ranges.push(String(s));
        }
        const phase = (at: number | undefined): string => {
          if (at === undefined) return '?';
          const last = marks.filter(([, t]) => t <= at).pop() ?? marks[0]!;
          return `${last[0]}+${at - last[1]}ms`;
        };
        const when = ranges.map((r) => r.split('-').map((s) => phase(p.ackedAt.get(Number(s)))).join('..'));
        const seenAsPublish = expected(p).filter((s) => !got.has(s) && publishesSeen.get(p.topic)?.has(s)).length;
        process.stderr.write(`node-death: ${p.topic} missing ${ranges.join(',')} (sent ${p.sent}; ${seenAsPublish} of them reached the client as PUBLISH) acked at ${when.join(', ')}; marks ${JSON.stringify(marks)}\n`);
      }
    }
    if (report.some((r) => r.missing > 0 || (r.topic.includes('q2') && r.duplicates > 0))) {
      for (const node of nodes) {
        const lines = node.process.logs.filter((l) => String(l.msg).startsWith('cluster') || (l.level as number) >= 40 || String(l.clientId).startsWith('death-sub'));
        process.stderr.write(`--- ${node.id}\n${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
      }
    }
    for (const p of publishers) {
      const received = receivedOf(p);
      const set = new Set(received);
      const missing = expected(p).filter((s) => !set.has(s));
      expect(missing, `${p.topic}: ${missing.length} of ${p.acked.size} acknowledged not delivered`).toEqual([]);
    }
    // QoS 2 exactly once across both deaths [3.1.1 MQTT-4.3.3-2]: a resend after the publishers'
    // node died is routed again under the routing id stored with its incoming record, and the
    // engine (inbox dedupe) and the subscriber's session (routed copies) drop the second copy.
    for (const r of report.filter((r) => r.topic.includes('q2'))) expect(r.duplicates, `${r.topic}: QoS 2 delivered twice`).toBe(0);
    // Per-publisher order is NOT kept across a node death (README "Cluster"): what was in flight
    // or in the dead node's inbox can arrive after later messages. Reported above, not asserted.
    expect(publishers.every((p) => p.acked.size > 100)).toBe(true);
    for (const c of [sub1again, sub2, ...pubClients]) c.end(true);
  }

  it('SIGKILL of the subscribers\' node, then of the publishers\' node, under 10 × 32 QoS 1/2: every acknowledged message delivered', async () => {
    await crashAcrossNodes(false);
  }, 240_000);

  // History of this variant (issue 15): before the session handoff (src/cluster/handoff.ts) it
  // lost 128–512 acknowledged QoS 1 per publisher in 4 of 6 runs; after it, and after the owner
  // look-up, the claim compare-and-set fix and the wait for a claim (session 6), it passed 4 of 5
  // alone, the 5th losing 224–256 acknowledged QoS 1 of each publisher and 32 QoS 2.
  // Session 7 (2026-12-01), from the missing ranges, the phase each was acknowledged in and the
  // nodes' claim and release logs, three causes fixed:
  // - what the claiming node published while it restored a session released to it went only to
  //   the old node, which dropped it once its view showed the claiming node's routes (one window
  //   of one publisher, up to 224–256 of each under load): Delivery.claiming, peer-router.ts;
  // - an older claim of a reconnecting client restored the session after the release had gone to
  //   another node, a second copy taking its deliveries (64 QoS 2 of each publisher, none sent to
  //   the client): handover.ts waits for every claim and re-checks the owner;
  // - two claims of one id on one node: the loser of the owner compare-and-set refused the newer
  //   CONNECT, and mqtt.js does not reconnect after a refusal (the test hung): ownership.ts.
  // On that code (2026-12-01, loaded machine, 8 of the 10 runs beside the whole suite): 7 of 10
  // passed. One lost 32 acknowledged QoS 1 of each QoS 1 publisher (one inbox batch), acknowledged
  // 4 s into the load, before any kill, and never sent to the subscriber (README "Cluster": a
  // suspected applied mark passing a batch the subscribers' node never handled; not confirmed).
  // One hung: the engine stalled, CONNECTs were refused meanwhile (0x89) and mqtt.js does not
  // retry a refused CONNACK. One timed out waiting for load after the second kill. So still:
  // SKIPPED in the suite (issue 15); MIDGE_TEST_CLUSTER_HELD=1 runs it, alone.
  it.skipIf(!process.env.MIDGE_TEST_CLUSTER_HELD)('the same, with the publishers\' node killed while they still publish', async () => {
    await crashAcrossNodes(true);
  }, 300_000);
});
