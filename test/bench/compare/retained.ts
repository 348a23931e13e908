/**
 * Scenario 7: N retained topics (QoS 0 publishes with RETAIN on bench/r/<i>, then PINGREQ →
 * PINGRESP so the broker has handled them all), then a new client subscribes to bench/r/#: the
 * time from SUBSCRIBE until the N-th retained message arrives.
 */
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import { startWindow } from '../lib/broker-process.js';
import { PublishTemplate } from '../lib/load-client.js';
import { settle } from '../lib/wait.js';
import type { RunResult, Scenario, ScenarioContext } from './scenario.js';

const PAYLOAD = Buffer.alloc(64, 0x61);
const WRITE_BATCH = 500;

/** Every retained PUBLISH, encoded once per protocol version. */
function encodeRetained(count: number, version: 4 | 5): Buffer[] {
  const batches: Buffer[] = [];
  for (let from = 0; from < count; from += WRITE_BATCH) {
    const packets = [];
    for (let i = from; i < Math.min(count, from + WRITE_BATCH); i++) packets.push(new PublishTemplate(`bench/r/${i}`, PAYLOAD, 0, { version, retain: true }).bytes);
    batches.push(Buffer.concat(packets));
  }
  return batches;
}

export function retained(count: number): Scenario {
  const encoded = new Map<4 | 5, Buffer[]>();
  return {
    number: '7',
    title: `retained: ${count.toLocaleString('en')} retained topics, then a new subscriber to bench/r/#`,
    metrics: [
      { key: 'ms', label: 'ms to all', isLowerBetter: true },
      { key: 'rate', label: 'msg/s' },
      { key: 'perCpuSecond', label: 'per CPU-s' },
      { key: 'delivered', label: 'delivered' },
    ],
    headlines: [{ key: 'ms', label: `${count.toLocaleString('en')} retained to a new subscriber, ms (lower is better)` }],
    capMs: 120_000,
    async run({ peer, clients, version, signal }: ScenarioContext): Promise<RunResult> {
      if (!encoded.has(version)) encoded.set(version, encodeRetained(count, version));
      const pub = await clients.connect({ clientId: 'retained-pub' });
      for (const batch of encoded.get(version)!) {
        if (!pub.socket.write(batch)) await Promise.race([once(pub.socket, 'drain'), pub.closed]);
      }
      await pub.ping();
      const sub = await clients.connect({ clientId: 'retained-sub' });
      const window = startWindow(peer.pid);
      const subscribedAt = performance.now();
      await sub.subscribe('bench/r/#', 0);
      const settled = await settle(() => sub.received, count, 2000, this.capMs, signal);
      const measured = window.end(settled.lastMovedAt);
      const metrics = {
        ms: settled.lastMovedAt - subscribedAt,
        rate: settled.count / measured.seconds,
        perCpuSecond: settled.count / measured.brokerCpuSeconds,
        delivered: settled.count,
      };
      return settled.isComplete ? { metrics } : { metrics, problem: `${settled.count.toLocaleString('en')} of ${count.toLocaleString('en')} arrived` };
    },
  };
}
