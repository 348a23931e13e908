/**
 * Scenario 5: latency at a fixed 5,000 msg/s, QoS 0 and QoS 1 (subscriber at the same QoS), one
 * after the other on the same broker. Measured by the C prober (test/bench/opener/prober.c) when
 * `cc` builds it and the run is MQTT 3.1.1: one PUBLISH per 200 µs timerfd tick, its send time
 * (CLOCK_MONOTONIC) in the payload, the subscriber in the same process. Why not Node: the
 * generator's own tails were the floor (through a peer that only reflects bytes, p99 3.9 ms on the
 * quiet machine: its 1 ms timer, its GC, a heap holding earlier scenarios' garbage); the C prober
 * reads ~0.17 ms there on a loaded machine. Otherwise (MQTT 5, no `cc`) the Node probe below runs,
 * and the figures say so: one publisher paces itself on a 1 ms timer, sending what is due in one
 * write, each payload starting with its send time (performance.now()).
 * Only messages sent after the warm-up are sampled; p50/p99/p99.9 in microseconds. The send time
 * is the real write time, not the schedule: a broker that stalls the publisher (QoS 1 in-flight
 * window full) is reported by `windowFullTicks`, not hidden in the samples.
 */
import { performance } from 'node:perf_hooks';
import { startWindow, type WindowResult } from '../lib/broker-process.js';
import type { ClientGroup } from '../lib/client-group.js';
import { PacketType } from '../lib/frame-reader.js';
import { PublishTemplate, type LoadClient } from '../lib/load-client.js';
import { proberBinary, runProber } from '../lib/opener.js';
import { percentile } from '../lib/stats.js';
import { AbortedError, settle } from '../lib/wait.js';
import type { RunResult, Scenario, ScenarioContext } from './scenario.js';

const PAYLOAD = Buffer.alloc(64, 0x61);
export const LATENCY_RATE = 5000;
const PACE_INTERVAL_MS = 1;
/** 3.1.1 has no Receive Maximum; a bound keeps a stalled broker from taking every packet id. */
const MAX_IN_FLIGHT_311 = 1000;

export interface LatencyFigures {
  p50Us: number;
  p99Us: number;
  p999Us: number;
  samples: number;
  /** Sent after the warm-up, never received. */
  lost: number;
  /** Timer ticks on which the QoS 1 in-flight window held messages back. */
  windowFullTicks: number;
  /** Messages per CPU-second of the broker (or trivial peer) while measuring. */
  perCpuSecond: number;
  /** What measured: the C prober, or the Node generator (and why not the prober). */
  probe: string;
}

export interface LatencyRun {
  clients: ClientGroup;
  pid: number;
  signal?: AbortSignal;
  qos: 0 | 1;
  ratePerSecond: number;
  warmupMs: number;
  measureMs: number;
  topic: string;
  /** Against the reflecting trivial peer: one connection publishes and reads its own bytes back. */
  isReflected?: boolean;
}

export async function measureLatency(run: LatencyRun): Promise<LatencyFigures> {
  const { binary, why } = proberBinary();
  if (binary && run.clients.version === 4) return measureWithProber(binary, run);
  return { ...(await measureInNode(run)), probe: `Node generator (${why ?? 'MQTT 5: the C prober speaks 3.1.1 only'})` };
}

async function measureWithProber(binary: string, run: LatencyRun): Promise<LatencyFigures> {
  let window: ReturnType<typeof startWindow> | undefined;
  let measured: WindowResult | undefined;
  const result = await runProber(binary, {
    port: run.clients.port,
    qos: run.qos,
    ratePerSecond: run.ratePerSecond,
    warmupMs: run.warmupMs,
    measureMs: run.measureMs,
    topic: run.topic,
    isReflected: run.isReflected === true,
    maxInFlight: MAX_IN_FLIGHT_311,
    onMeasuring: () => (window = startWindow(run.pid)),
    onMeasured: () => (measured = window?.end()),
    signal: run.signal,
  });
  const sentInWindow = result.samples + Math.max(0, result.lost);
  return { ...result, lost: Math.max(0, result.lost), perCpuSecond: measured ? sentInWindow / measured.brokerCpuSeconds : NaN, probe: 'C prober' };
}

async function measureInNode(run: LatencyRun): Promise<Omit<LatencyFigures, 'probe'>> {
  const { clients, qos, topic } = run;
  const capacity = Math.ceil((run.ratePerSecond * run.measureMs) / 1000) * 2 + 1000;
  const samples = new Float64Array(capacity);
  let sampleCount = 0;
  let measureFrom = Infinity;
  let measureTo = Infinity;
  const onPublish = (bytes: Buffer, payloadOffset: number): void => {
    const sentAt = bytes.readDoubleLE(payloadOffset);
    if (sentAt >= measureFrom && sentAt < measureTo && sampleCount < capacity) samples[sampleCount++] = performance.now() - sentAt;
  };
  let pub: LoadClient;
  if (run.isReflected) {
    pub = await clients.connect({ clientId: 'latency', onPublish });
  } else {
    const sub = await clients.connect({ clientId: `latency-sub-${qos}`, onPublish });
    await sub.subscribe(topic, qos);
    pub = await clients.connect({ clientId: `latency-pub-${qos}` });
  }
  const maxInFlight = clients.version === 5 ? (pub.connack?.properties?.receiveMaximum ?? 65_535) : MAX_IN_FLIGHT_311;
  const template = new PublishTemplate(topic, PAYLOAD, qos, { version: clients.version });
  const size = template.bytes.length;
  let inFlight = 0;
  pub.onAck = (type) => {
    if (type === PacketType.PUBACK) inFlight--;
  };

  let sent = 0;
  let sentInWindow = 0;
  let nextId = 1;
  let windowFullTicks = 0;
  const startedAt = performance.now();
  measureFrom = startedAt + run.warmupMs;
  measureTo = measureFrom + run.measureMs;
  let window: ReturnType<typeof startWindow> | undefined;
  const measured = await new Promise<WindowResult>((resolve, reject) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (run.signal?.aborted || pub.isClosed) {
        clearInterval(timer);
        return reject(pub.isClosed ? new Error('publisher connection closed') : new AbortedError());
      }
      if (now >= measureTo) {
        clearInterval(timer);
        return resolve(window!.end(now));
      }
      if (!window && now >= measureFrom) window = startWindow(run.pid);
      const due = Math.floor(((now - startedAt) * run.ratePerSecond) / 1000) - sent;
      const allowed = qos === 1 ? Math.min(due, maxInFlight - inFlight) : due;
      if (allowed < due) windowFullTicks++;
      if (allowed <= 0) return;
      const batch = template.copies(allowed, nextId);
      nextId = ((nextId - 1 + allowed) % 65535) + 1;
      const sentAt = performance.now();
      for (let i = 0; i < allowed; i++) batch.writeDoubleLE(sentAt, i * size + template.payloadOffset);
      pub.socket.write(batch);
      sent += allowed;
      if (qos === 1) inFlight += allowed;
      if (sentAt >= measureFrom) sentInWindow += allowed;
    }, PACE_INTERVAL_MS);
  });
  // The last messages are still on their way.
  await settle(() => sampleCount, sentInWindow, 500, 5000, run.signal);
  const sorted = samples.subarray(0, sampleCount).sort();
  const microseconds = (p: number): number => percentile(sorted, p) * 1000;
  return {
    p50Us: microseconds(50),
    p99Us: microseconds(99),
    p999Us: microseconds(99.9),
    samples: sampleCount,
    lost: sentInWindow - sampleCount,
    windowFullTicks,
    perCpuSecond: sentInWindow / measured.brokerCpuSeconds,
  };
}

export function latency(warmupMs: number, measureMs: number): Scenario {
  const seconds = measureMs / 1000;
  return {
    number: '5',
    title: `latency at ${LATENCY_RATE.toLocaleString('en')} msg/s, ${seconds} s after ${warmupMs / 1000} s warm-up (µs)`,
    metrics: [
      { key: 'q0p50', label: 'QoS 0 p50', isLowerBetter: true },
      { key: 'q0p99', label: 'p99', isLowerBetter: true },
      { key: 'q0p999', label: 'p99.9', isLowerBetter: true },
      { key: 'q0perCpuSecond', label: 'msg/CPU-s' },
      { key: 'q1p50', label: 'QoS 1 p50', isLowerBetter: true },
      { key: 'q1p99', label: 'p99', isLowerBetter: true },
      { key: 'q1p999', label: 'p99.9', isLowerBetter: true },
      { key: 'q1perCpuSecond', label: 'msg/CPU-s' },
      { key: 'lost', label: 'lost' },
    ],
    headlines: [
      { key: 'q0p50', label: `latency QoS 0 @ ${LATENCY_RATE / 1000}k msg/s, p50 µs (lower is better)` },
      { key: 'q0p99', label: '… p99 µs' },
      { key: 'q0p999', label: '… p99.9 µs' },
      { key: 'q1p50', label: `latency QoS 1 @ ${LATENCY_RATE / 1000}k msg/s, p50 µs (lower is better)` },
      { key: 'q1p99', label: '… p99 µs' },
      { key: 'q1p999', label: '… p99.9 µs' },
    ],
    capMs: 2 * (warmupMs + measureMs) + 30_000,
    async run({ peer, clients, signal }: ScenarioContext): Promise<RunResult> {
      const figures = [];
      for (const qos of [0, 1] as const) {
        const f = await measureLatency({ clients, pid: peer.pid, signal, qos, ratePerSecond: LATENCY_RATE, warmupMs, measureMs, topic: `bench/latency/${qos}` });
        figures.push(f);
      }
      const [q0, q1] = figures as [LatencyFigures, LatencyFigures];
      const metrics = {
        q0p50: q0.p50Us,
        q0p99: q0.p99Us,
        q0p999: q0.p999Us,
        q0perCpuSecond: q0.perCpuSecond,
        q1p50: q1.p50Us,
        q1p99: q1.p99Us,
        q1p999: q1.p999Us,
        q1perCpuSecond: q1.perCpuSecond,
        lost: q0.lost + q1.lost,
        windowFullTicks: q1.windowFullTicks,
      };
      const problems = [
        ...(q1.probe === 'C prober' ? [] : [`measured by the ${q1.probe}: its own tails are in these figures`]),
        ...(q0.lost + q1.lost > 0 ? [`lost ${q0.lost} (QoS 0), ${q1.lost} (QoS 1)`] : []),
        ...(q1.windowFullTicks > 0 ? [`QoS 1 window full on ${q1.windowFullTicks} ticks: latency understated`] : []),
      ];
      return problems.length ? { metrics, problem: problems.join('; ') } : { metrics };
    },
  };
}
