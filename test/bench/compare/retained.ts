/**
 * Scenario 7 (and 14, below): N retained topics (QoS 0 publishes with RETAIN on bench/r/<i>, then PINGREQ →
 * PINGRESP so the broker has handled them all), then a new client subscribes to bench/r/#: the
 * time from SUBSCRIBE until the N-th retained message arrives.
 */
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import { startWindow } from '../lib/broker-process.js';
import { PublishTemplate, publishWindowed } from '../lib/load-client.js';
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

/** How many distinct topics scenario 14 publishes to: a fleet's state topics, each updated often. */
const RETAINED_TOPICS = 1_000;

/**
 * Scenario 14 (issue #12's fourth row): N retained QoS 1 publishes from one client keeping
 * `window` unacknowledged, cycling over 1,000 topics (bench/rq/<i>), no subscriber: the rate at
 * which the broker stores and acknowledges retained messages, and its CPU per message.
 */
export function retainedQos1(count: number, window: number): Scenario {
  const templates = new Map<4 | 5, PublishTemplate[]>();
  return {
    number: '14',
    title: `retained QoS 1 publishing: ${count.toLocaleString('en')} publishes over ${RETAINED_TOPICS.toLocaleString('en')} topics, ${window} in flight`,
    metrics: [
      { key: 'rate', label: 'acked msg/s' },
      { key: 'cpuUs', label: 'CPU µs/msg', digits: 1, isLowerBetter: true },
      { key: 'perCpuSecond', label: 'per CPU-s' },
    ],
    headlines: [
      { key: 'rate', label: `retained QoS 1 publishing, ${window} in flight (msg/s)`, target: { mosquitto: 0.8 } },
      { key: 'perCpuSecond', label: '… per broker CPU-second' },
    ],
    capMs: 120_000,
    async run({ peer, clients, version }: ScenarioContext): Promise<RunResult> {
      if (!templates.has(version)) {
        templates.set(
          version,
          Array.from({ length: RETAINED_TOPICS }, (_, i) => new PublishTemplate(`bench/rq/${i}`, PAYLOAD, 1, { version, retain: true })),
        );
      }
      const pub = await clients.connect({ clientId: 'retained-qos1-pub' });
      const window_ = startWindow(peer.pid);
      const startedAt = performance.now();
      await publishWindowed(pub, templates.get(version)!, 1, count, window);
      const measured = window_.end();
      const seconds = (performance.now() - startedAt) / 1000;
      return { metrics: { rate: count / seconds, cpuUs: (measured.brokerCpuSeconds * 1e6) / count, perCpuSecond: count / measured.brokerCpuSeconds } };
    },
  };
}
