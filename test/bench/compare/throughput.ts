/**
 * Scenarios 1–4: how many messages a broker moves, 64-byte payloads.
 *  1 fan-in   20 QoS 0 publishers → 1 subscriber on bench/+/data: delivered/s and % delivered
 *  2 fan-out  1 QoS 0 publisher → 200 subscribers of one topic: deliveries/s
 *  3 QoS 1    10 publishers × 32 in flight → 1 QoS 1 subscriber: msg/s, loss count
 *  4 QoS 2    10 publishers × 32 in flight → 1 QoS 2 subscriber, full handshake both ways
 * The clock runs from the first publish to the last delivery; CPU from /proc/<pid>/stat.
 */
import { startWindow } from '../lib/broker-process.js';
import { blast, PublishTemplate, publishWindowed, type LoadClient } from '../lib/load-client.js';
import { settle } from '../lib/wait.js';
import { throughputMetrics, type RunResult, type Scenario, type ScenarioContext } from './scenario.js';

const PAYLOAD = Buffer.alloc(64, 0x61);
/** QoS 0 may drop: a count that stops moving for this long is final. */
const QOS0_IDLE_MS = 1000;
/** QoS 1/2 must not drop: give a stalled broker longer before calling it loss. */
const QOS12_IDLE_MS = 5000;

const total = (clients: LoadClient[]): number => clients.reduce((n, c) => n + c.received, 0);

interface ThroughputShape {
  number: string;
  title: string;
  /** What `rate` counts: 'delivered/s', 'msg/s'. */
  unit: string;
  headline: string;
  target: { mosquitto: number; aedes: number };
  /** QoS 1/2 scenarios count lost messages too. */
  countsLoss: boolean;
  run(ctx: ScenarioContext, capMs: number): Promise<RunResult>;
}

function throughputScenario(shape: ThroughputShape): Scenario {
  const capMs = shape.countsLoss ? 180_000 : 120_000;
  return {
    number: shape.number,
    title: shape.title,
    metrics: [
      { key: 'rate', label: shape.unit },
      { key: 'perCpuSecond', label: 'per CPU-s' },
      { key: 'deliveredPercent', label: 'delivered %', digits: 1 },
      { key: 'generatorCpuPercent', label: 'generator CPU %' },
      ...(shape.countsLoss ? [{ key: 'lost', label: 'lost' }] : []),
    ],
    headlines: [
      { key: 'rate', label: `${shape.headline} (${shape.unit})`, target: shape.target, canBeGeneratorBound: true },
      { key: 'perCpuSecond', label: '… per broker CPU-second' },
    ],
    capMs,
    run: (ctx) => shape.run(ctx, capMs),
  };
}

export function fanIn(perPublisher: number): Scenario {
  const expected = perPublisher * 20;
  return throughputScenario({
    number: '1',
    title: `fan-in QoS 0 (20 → 1), ${expected.toLocaleString('en')} messages`,
    unit: 'delivered/s',
    headline: 'fan-in QoS 0, 20 → 1',
    target: { mosquitto: 1, aedes: 3 },
    countsLoss: false,
    async run({ peer, clients, version, signal }, capMs) {
      const sub = await clients.connect({ clientId: 'fanin-sub' });
      await sub.subscribe('bench/+/data', 0);
      const pubs = await clients.connectMany(20, (i) => ({ clientId: `fanin-pub-${i}` }));
      const window = startWindow(peer.pid);
      await Promise.all(pubs.map((p, i) => blast(p, new PublishTemplate(`bench/${i}/data`, PAYLOAD, 0, { version }), perPublisher)));
      const settled = await settle(() => sub.received, expected, QOS0_IDLE_MS, capMs, signal);
      return { metrics: throughputMetrics(window.end(settled.lastMovedAt), settled.count, expected) };
    },
  });
}

export function fanOut(messages: number): Scenario {
  const expected = messages * 200;
  return throughputScenario({
    number: '2',
    title: `fan-out QoS 0 (1 → 200), ${messages.toLocaleString('en')} messages`,
    unit: 'deliveries/s',
    headline: 'fan-out QoS 0, 1 → 200',
    target: { mosquitto: 1, aedes: 3 },
    countsLoss: false,
    async run({ peer, clients, version, signal }, capMs) {
      const subs = await clients.connectMany(200, (i) => ({ clientId: `fanout-sub-${i}` }));
      await Promise.all(subs.map((s) => s.subscribe('bench/fanout', 0)));
      const pub = await clients.connect({ clientId: 'fanout-pub' });
      const window = startWindow(peer.pid);
      await blast(pub, new PublishTemplate('bench/fanout', PAYLOAD, 0, { version }), messages);
      const settled = await settle(() => total(subs), expected, QOS0_IDLE_MS, capMs, signal);
      return { metrics: throughputMetrics(window.end(settled.lastMovedAt), settled.count, expected) };
    },
  });
}

/** 10 publishers × 32 in flight → 1 subscriber, all at `qos`; a missing message is reported as loss. */
async function endToEnd(ctx: ScenarioContext, qos: 1 | 2, messages: number, capMs: number): Promise<RunResult> {
  const { peer, clients, version, signal } = ctx;
  const sub = await clients.connect({ clientId: `q${qos}-sub` });
  await sub.subscribe('bench/#', qos);
  const pubs = await clients.connectMany(10, (i) => ({ clientId: `q${qos}-pub-${i}` }));
  const window = startWindow(peer.pid);
  await Promise.all(pubs.map((p, i) => publishWindowed(p, new PublishTemplate(`bench/${i}`, PAYLOAD, qos, { version }), qos, messages / 10, 32)));
  const settled = await settle(() => sub.received, messages, QOS12_IDLE_MS, capMs, signal);
  const metrics = { ...throughputMetrics(window.end(settled.lastMovedAt), settled.count, messages), lost: Math.max(0, messages - settled.count) };
  if (settled.count < messages) return { metrics, problem: `lost ${(messages - settled.count).toLocaleString('en')}` };
  if (settled.count > messages) return { metrics, problem: `${(settled.count - messages).toLocaleString('en')} duplicates` };
  return { metrics };
}

export function qos1EndToEnd(messages: number): Scenario {
  return throughputScenario({
    number: '3',
    title: `QoS 1 end to end (10 × 32 → 1), ${messages.toLocaleString('en')} messages`,
    unit: 'msg/s',
    headline: 'QoS 1 end to end, 10 × 32 → 1',
    target: { mosquitto: 0.8, aedes: 3 },
    countsLoss: true,
    run: (ctx, capMs) => endToEnd(ctx, 1, messages, capMs),
  });
}

export function qos2EndToEnd(messages: number): Scenario {
  return throughputScenario({
    number: '4',
    title: `QoS 2 end to end (10 × 32 → 1), ${messages.toLocaleString('en')} messages`,
    unit: 'msg/s',
    headline: 'QoS 2 end to end, 10 × 32 → 1',
    target: { mosquitto: 0.8, aedes: 3 },
    countsLoss: true,
    run: (ctx, capMs) => endToEnd(ctx, 2, messages, capMs),
  });
}
