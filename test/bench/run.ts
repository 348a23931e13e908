/**
 * `npm run bench [-- <scenario…>] [--quick] [--runs N]`: scenarios trie, store (all by default);
 * `qos1` runs only the store's throughput comparison; `compare` runs Midge against Mosquitto and
 * Aedes (not part of the default set yet).
 * Medians of several runs, alternating backends, ratios from the same run; JSON to a temp file.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import path from 'node:path';
import { median } from './lib/broker-process.js';
import { offlineDrain, qos1Throughput, restartTime } from './store-bench.js';
import { runTrieBench } from './trie-bench.js';
import { fanIn, fanOut, qos1EndToEnd } from './compare.js';
import { hasMosquitto, MOSQUITTO, startPeer, type PeerKind, type RunningPeer } from './lib/peers.js';

const args = process.argv.slice(2);
const isQuick = args.includes('--quick');
const runsIndex = args.indexOf('--runs');
const runs = runsIndex >= 0 ? Number(args[runsIndex + 1]) : 3;
const selected = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs');
const wants = (name: string): boolean => (selected.length === 0 && name !== 'compare') || selected.includes(name);
const results: Record<string, unknown> = { machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, quick: isQuick, runs };
const fmt = (n: number, digits = 0): string => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

if (wants('trie')) {
  const rs = Array.from({ length: runs }, () => runTrieBench(100_000, isQuick ? 0.5 : 1));
  const warm = median(rs.map((r) => r.warmMatchesPerSecond));
  const cold = median(rs.map((r) => r.coldMatchesPerSecond));
  console.log(`\ntrie, 100k subscriptions (median of ${runs}): ${fmt(warm)} matches/s (cache hits), ${fmt(cold)} matches/s (misses), ${fmt(rs[0]!.averageMatchesPerTopic, 1)} entries per match`);
  results.trie = { warmMatchesPerSecond: warm, coldMatchesPerSecond: cold };
}

if (wants('store') || selected.includes('qos1')) {
  const n = isQuick ? 30_000 : 200_000;
  const level: number[] = [];
  const memory: number[] = [];
  const ratios: number[] = [];
  const cpuLevel: number[] = [];
  const cpuMemory: number[] = [];
  for (let r = 0; r < runs; r++) {
    const l = await qos1Throughput('level', n);
    const m = await qos1Throughput('memory', n);
    if (l.delivered !== n || m.delivered !== n) throw new Error('loss in qos1-throughput');
    level.push(l.messagesPerSecond);
    memory.push(m.messagesPerSecond);
    cpuLevel.push(l.messagesPerCpuSecond);
    cpuMemory.push(m.messagesPerCpuSecond);
    ratios.push(l.messagesPerSecond / m.messagesPerSecond);
    console.log(`  run ${r + 1}: level ${fmt(l.messagesPerSecond)} msg/s, memory ${fmt(m.messagesPerSecond)} msg/s, ratio ${(ratios.at(-1)! * 100).toFixed(0)}%`);
  }
  console.log(
    `qos1-throughput, ${fmt(n)} msgs (median of ${runs}): level ${fmt(median(level))} msg/s (${fmt(median(cpuLevel))}/CPU-s), ` +
      `memory ${fmt(median(memory))} msg/s (${fmt(median(cpuMemory))}/CPU-s), level/memory ${(median(ratios) * 100).toFixed(0)}% (target >= 70%)`,
  );
  results.qos1Throughput = { messages: n, level: median(level), memory: median(memory), ratio: median(ratios) };
}

if (wants('store')) {
  const drainN = isQuick ? 20_000 : 100_000;
  const drains: number[] = [];
  const drainMem: number[] = [];
  for (let r = 0; r < runs; r++) {
    drains.push((await offlineDrain('level', drainN)).drainSeconds);
    drainMem.push((await offlineDrain('memory', drainN)).drainSeconds);
  }
  console.log(`offline-drain, ${fmt(drainN)} queued QoS 1 (median of ${runs}): level ${median(drains).toFixed(2)} s (${fmt(drainN / median(drains))} msg/s), memory ${median(drainMem).toFixed(2)} s`);
  results.offlineDrain = { messages: drainN, levelSeconds: median(drains), memorySeconds: median(drainMem) };

  const restartN = isQuick ? 20_000 : 100_000;
  const restarts = [];
  for (let r = 0; r < runs; r++) restarts.push(await restartTime(restartN, restartN));
  const ok = restarts.every((r) => r.queuedDelivered === restartN && r.retainedDelivered === restartN);
  console.log(
    `restart with ${fmt(restartN)} queued + ${fmt(restartN)} retained (median of ${runs}): listening after ${fmt(median(restarts.map((r) => r.msToListening)))} ms, ` +
      `first CONNACK after ${fmt(median(restarts.map((r) => r.msToFirstConnack)))} ms (target < 2000 ms); all queued and retained delivered afterwards: ${ok ? 'yes' : 'NO'}`,
  );
  results.restart = restarts;
}

if (wants('compare')) {
  // Alternate the brokers within each repetition (A B C D A B C D …): drift hits all alike.
  const kinds: PeerKind[] = ['midge-memory', 'midge-level', ...(hasMosquitto ? (['mosquitto'] as const) : []), 'aedes'];
  if (!hasMosquitto) console.log(`mosquitto not installed (${MOSQUITTO}): compared with Aedes only`);
  const scenarios = [
    { name: 'fan-in QoS 0 (20 → 1)', unit: 'delivered/s', run: (p: RunningPeer) => fanIn(p.port, p.pid, isQuick ? 5_000 : 20_000) },
    { name: 'fan-out QoS 0 (1 → 200)', unit: 'deliveries/s', run: (p: RunningPeer) => fanOut(p.port, p.pid, isQuick ? 500 : 2_000) },
    { name: 'QoS 1 end to end (10 × 32 → 1)', unit: 'msg/s', run: (p: RunningPeer) => qos1EndToEnd(p.port, p.pid, isQuick ? 20_000 : 100_000) },
  ];
  const table: Record<string, Record<string, unknown>> = {};
  for (const scenario of scenarios) {
    const rates: Record<string, number[]> = {};
    const perCpu: Record<string, number[]> = {};
    const delivered: Record<string, number[]> = {};
    for (let r = 0; r < runs; r++) {
      for (const kind of kinds) {
        const peer = await startPeer(kind);
        try {
          const result = await scenario.run(peer);
          (rates[kind] ??= []).push(result.rate);
          (perCpu[kind] ??= []).push(result.perCpuSecond);
          (delivered[kind] ??= []).push((result.delivered / result.expected) * 100);
        } finally {
          await peer.stop();
        }
      }
    }
    console.log(`\n${scenario.name}, median of ${runs} (${scenario.unit}; per broker CPU-second; % delivered):`);
    const row: Record<string, unknown> = {};
    for (const kind of kinds) {
      const m = median(rates[kind]!);
      row[kind] = { rate: m, perCpuSecond: median(perCpu[kind]!), deliveredPercent: median(delivered[kind]!) };
      console.log(`  ${kind.padEnd(13)} ${fmt(m).padStart(12)}  ${fmt(median(perCpu[kind]!)).padStart(12)}/CPU-s  ${median(delivered[kind]!).toFixed(1)}%`);
    }
    const midge = median(rates['midge-memory']!);
    if (hasMosquitto) console.log(`  Midge (memory) / Mosquitto: ${(midge / median(rates.mosquitto!)).toFixed(2)}`);
    console.log(`  Midge (memory) / Aedes: ${(midge / median(rates.aedes!)).toFixed(2)}`);
    table[scenario.name] = row;
  }
  results.compare = table;
}

const out = path.join(tmpdir(), `midge-bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify(results, null, 2));
console.log(`\nresults: ${out}`);
