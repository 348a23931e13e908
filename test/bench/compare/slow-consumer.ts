/**
 * Scenarios 10 and 11: publishers faster than their consumer. 10 QoS 1 publishers, each sending a
 * new PUBLISH for every PUBACK (32 in flight), to one QoS 1 subscriber that answers each PUBLISH
 * with its own PUBACK as it reads it — a plain client, not the generator's batched acks. The
 * broker acknowledges publishers once their messages are stored, so they get ahead and the
 * subscriber's queue grows to its bound: 10 with each broker's bound at 100,000 (Midge's
 * default), 11 at 1,000. What counts: the subscriber keeps its rate, publishers keep being
 * acknowledged, and what the bound refused is a count, not a stall.
 */
import { performance } from 'node:perf_hooks';
import { startWindow } from '../lib/broker-process.js';
import { PublishTemplate, publishWindowed } from '../lib/load-client.js';
import { settle } from '../lib/wait.js';
import type { Scenario } from './scenario.js';

const PAYLOAD = Buffer.alloc(64, 0x61);
const IDLE_MS = 3000;

export function slowConsumer(number: '10' | '11', messages: number, maxQueuedMessages: number): Scenario {
  return {
    number,
    title: `QoS 1 10 × 32 → 1 subscriber acking each PUBLISH alone, queue bound ${maxQueuedMessages.toLocaleString('en')}, ${messages.toLocaleString('en')} messages`,
    metrics: [
      { key: 'rate', label: 'delivered/s' },
      { key: 'ackRate', label: 'publisher acks/s' },
      { key: 'perCpuSecond', label: 'delivered per CPU-s' },
      { key: 'deliveredPercent', label: 'delivered %', digits: 1 },
      { key: 'dropped', label: 'dropped at bound' },
    ],
    headlines: [
      { key: 'rate', label: `slow consumer, bound ${maxQueuedMessages.toLocaleString('en')}: delivered/s`, target: { mosquitto: 1 }, canBeGeneratorBound: true },
      { key: 'ackRate', label: '… publisher acks/s', canBeGeneratorBound: true },
      { key: 'dropped', label: '… dropped at the bound (lower is better)' },
    ],
    peerLimits: { maxQueuedMessages },
    capMs: 180_000,
    async run({ peer, clients, version, signal }) {
      const sub = await clients.connect({ clientId: `slow${number}-sub` });
      sub.acksEachAlone = true;
      await sub.subscribe('bench/#', 1);
      const pubs = await clients.connectMany(10, (i) => ({ clientId: `slow${number}-pub-${i}` }));
      const window = startWindow(peer.pid);
      const startedAt = performance.now();
      await Promise.all(
        pubs.map((p, i) => publishWindowed(p, new PublishTemplate(`bench/${i}`, PAYLOAD, 1, { version }), 1, messages / 10, 32, { isOnePerAck: true })),
      );
      const ackSeconds = (performance.now() - startedAt) / 1000;
      const settled = await settle(() => sub.received, messages, IDLE_MS, 180_000, signal);
      const measured = window.end(settled.lastMovedAt);
      const dropped = Math.max(0, messages - settled.count);
      const metrics = {
        rate: settled.count / measured.seconds,
        ackRate: messages / ackSeconds,
        perCpuSecond: settled.count / measured.brokerCpuSeconds,
        deliveredPercent: (settled.count / messages) * 100,
        dropped,
      };
      // Below the bound nothing may be missing; at it, drops are the defined outcome.
      if (dropped > 0 && messages <= maxQueuedMessages) return { metrics, problem: `lost ${dropped.toLocaleString('en')} below the bound` };
      return { metrics };
    },
  };
}
