/**
 * Scenario 8: a persistent QoS 1 session (clean session off; 5.0: Session Expiry 1 h) subscribes
 * to bench/offline at QoS 1 and disconnects; N QoS 1 messages are published (32 in flight, each
 * acked); the session returns: time from its CONNECT to the N-th message, which must all arrive.
 * Then the same again on the same broker ("warm"): the first round of a fresh broker is also its
 * JIT warm-up (Midge's CPU per drained message was ~3× its later rounds' in a loaded-machine probe;
 * Mosquitto has none), so the second round shows what a broker that has been running does.
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
      { key: 'warmDrainRate', label: 'warm msg/s' },
      { key: 'warmPerCpuSecond', label: 'warm per CPU-s' },
      { key: 'warmPublishRate', label: 'warm queued msg/s' },
    ],
    headlines: [
      { key: 'drainRate', label: `offline queue of ${count.toLocaleString('en')} QoS 1, drain (msg/s)` },
      { key: 'perCpuSecond', label: '… per broker CPU-second' },
      { key: 'warmDrainRate', label: '… drain again on the same broker (warm, msg/s)' },
    ],
    capMs: 180_000,
    async run({ peer, clients, version, signal }: ScenarioContext): Promise<RunResult> {
      const session = { clientId: 'offline-sub', clean: false };
      const first = await clients.connect(session);
      await first.subscribe('bench/offline', 1);
      await first.disconnect();
      const pub = await clients.connect({ clientId: 'offline-pub' });
      const template = new PublishTemplate('bench/offline', PAYLOAD, 1, { version });
      const round = async (): Promise<{ publishRate: number; drainMs: number; drainRate: number; perCpuSecond: number; delivered: number }> => {
        const publishStart = performance.now();
        await publishWindowed(pub, template, 1, count, 32);
        const publishSeconds = (performance.now() - publishStart) / 1000;
        const window = startWindow(peer.pid);
        const connectAt = performance.now();
        const back = await clients.connect(session);
        const settled = await settle(() => back.received, count, 5000, this.capMs, signal);
        const measured = window.end(settled.lastMovedAt);
        await back.disconnect();
        return {
          publishRate: count / publishSeconds,
          drainMs: settled.lastMovedAt - connectAt,
          drainRate: settled.count / measured.seconds,
          perCpuSecond: settled.count / measured.brokerCpuSeconds,
          delivered: settled.count,
        };
      };
      const cold = await round();
      const warm = cold.delivered === count ? await round() : undefined;
      const metrics = {
        ...cold,
        warmDrainRate: warm?.drainRate ?? NaN,
        warmPerCpuSecond: warm?.perCpuSecond ?? NaN,
        warmPublishRate: warm?.publishRate ?? NaN,
      };
      const short = [cold, warm].find((r) => r !== undefined && r.delivered !== count);
      if (!short) return { metrics };
      const problem = short.delivered < count ? `lost ${(count - short.delivered).toLocaleString('en')}` : `${(short.delivered - count).toLocaleString('en')} duplicates`;
      return { metrics, problem };
    },
  };
}
