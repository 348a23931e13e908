/**
 * Scenario 8: a persistent QoS 1 session (clean session off; 5.0: Session Expiry 1 h) subscribes
 * to bench/offline at QoS 1 and disconnects; N QoS 1 messages are published (32 in flight, each
 * acked); the session returns: time from its CONNECT to the N-th message, which must all arrive.
 */
import { performance } from 'node:perf_hooks';
import { startWindow } from '../lib/broker-process.js';
import { PublishTemplate, publishWindowed } from '../lib/load-client.js';
import { settle } from '../lib/wait.js';
import type { RunResult, Scenario, ScenarioContext } from './scenario.js';

const PAYLOAD = Buffer.alloc(64, 0x61);

export function offlineQueue(count: number): Scenario {
  return {
    number: '8',
    title: `offline queue: ${count.toLocaleString('en')} QoS 1 messages queued for a persistent session, then it returns`,
    metrics: [
      { key: 'drainMs', label: 'drain ms', isLowerBetter: true },
      { key: 'drainRate', label: 'msg/s' },
      { key: 'perCpuSecond', label: 'per CPU-s' },
      { key: 'publishRate', label: 'queued msg/s' },
      { key: 'delivered', label: 'delivered' },
    ],
    headlines: [
      { key: 'drainRate', label: `offline queue of ${count.toLocaleString('en')} QoS 1, drain (msg/s)` },
      { key: 'perCpuSecond', label: '… per broker CPU-second' },
    ],
    capMs: 180_000,
    async run({ peer, clients, version, signal }: ScenarioContext): Promise<RunResult> {
      const session = { clientId: 'offline-sub', clean: false };
      const first = await clients.connect(session);
      await first.subscribe('bench/offline', 1);
      await first.disconnect();
      const pub = await clients.connect({ clientId: 'offline-pub' });
      const publishStart = performance.now();
      await publishWindowed(pub, new PublishTemplate('bench/offline', PAYLOAD, 1, { version }), 1, count, 32);
      const publishSeconds = (performance.now() - publishStart) / 1000;
      const window = startWindow(peer.pid);
      const connectAt = performance.now();
      const back = await clients.connect(session);
      const settled = await settle(() => back.received, count, 5000, this.capMs, signal);
      const measured = window.end(settled.lastMovedAt);
      const metrics = {
        drainMs: settled.lastMovedAt - connectAt,
        drainRate: settled.count / measured.seconds,
        perCpuSecond: settled.count / measured.brokerCpuSeconds,
        publishRate: count / publishSeconds,
        delivered: settled.count,
      };
      if (settled.count === count) return { metrics };
      const problem = settled.count < count ? `lost ${(count - settled.count).toLocaleString('en')}` : `${(settled.count - count).toLocaleString('en')} duplicates`;
      return { metrics, problem };
    },
  };
}
