/**
 * `npm run bench [-- <scenario…>] [--quick] [--runs N] [--v5] [--only 1,5,…]`: scenarios trie, store,
 * aliases (the default set; aliases = bytes saved by outgoing topic aliases); `auth` measures CONNECTs/s through the auth chain (JWT, cached HTTP, user store); `qos1` runs only the store's throughput comparison; `generator` measures the
 * load generator's own ceiling; `compare` runs Midge against Mosquitto and Aedes on scenarios 1–9
 * (after the generator ceiling; not in the default set: a full run takes about eight minutes);
 * `cluster` runs one node vs three on a local 3-server JetStream engine (test/bench/cluster-bench.ts).
 * Medians of several runs, alternating backends, ratios from the same run; JSON to a temp file.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { median } from './lib/stats.js';
import { offlineDrain, qos1Throughput, restartTime } from './store-bench.js';
import { runTrieBench } from './trie-bench.js';
import { runConnectorBench } from './connector-bench.js';
import { runCompare } from './compare/index.js';
import { ceilingsNote, formatCeilings, measureGeneratorCeilings } from './generator-bench.js';
import { runTopicAliasBench } from './topic-alias-bench.js';
import { runAuthBench, runAuthorizationBench } from './auth-bench.js';
import { runClusterBench } from './cluster-bench.js';

const startedAt = performance.now();
const args = process.argv.slice(2);
const isQuick = args.includes('--quick');
const version = args.includes('--v5') ? 5 : 4;
const optionValue = (flag: string): string | undefined => {
  const at = args.indexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
};
const runsOption = optionValue('--runs');
const only = optionValue('--only')?.split(',') ?? [];
const selected = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs' && args[i - 1] !== '--only');
const DEFAULT_SET = ['trie', 'store', 'aliases'];
const wants = (name: string): boolean => (selected.length === 0 && DEFAULT_SET.includes(name)) || selected.includes(name);
// compare --quick: one run per broker keeps all nine scenarios under two minutes.
const runs = runsOption !== undefined ? Number(runsOption) : wants('compare') && isQuick ? 1 : 3;
const results: Record<string, unknown> = { machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, quick: isQuick, runs, protocolVersion: version };
const fmt = (n: number, digits = 0): string => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

if (wants('trie')) {
  const rs = Array.from({ length: runs }, () => runTrieBench(100_000, isQuick ? 0.5 : 1));
  const warm = median(rs.map((r) => r.warmMatchesPerSecond));
  const cold = median(rs.map((r) => r.coldMatchesPerSecond));
  console.log(`\ntrie, 100k subscriptions (median of ${runs}): ${fmt(warm)} matches/s (cache hits), ${fmt(cold)} matches/s (misses), ${fmt(rs[0]!.averageMatchesPerTopic, 1)} entries per match`);
  results.trie = { warmMatchesPerSecond: warm, coldMatchesPerSecond: cold };
}

if (wants('aliases')) {
  // Bytes, not speed: exact on any machine, so one run.
  const { encoding, sockets } = await runTopicAliasBench(isQuick);
  console.log('\ntopic aliases, devices/<id>/telemetry/<sensor>, 4 sensors, 5-byte payloads, QoS 1 (bytes a subscriber receives):');
  for (const r of encoding) {
    console.log(`  ${fmt(r.devices)} devices (${fmt(r.devices * r.sensors)} topics), client Topic Alias Maximum ${fmt(r.aliasMaximum)}: ${fmt(r.bytesWithout)} -> ${fmt(r.bytesWith)} bytes for ${fmt(r.messages)} messages, ${r.savedPercent.toFixed(1)}% saved`);
  }
  console.log(`  over sockets (QoS 0, 16 devices, alias maximum 64): ${fmt(sockets.bytesWithout)} -> ${fmt(sockets.bytesWith)} bytes for ${fmt(sockets.messages)} messages, ${sockets.savedPercent.toFixed(1)}% saved`);
  results.topicAliases = { encoding, sockets };
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

if (wants('auth')) {
  const authResults = await runAuthBench(isQuick);
  console.log(`\nauth: CONNECT→CONNACK cycles per second, 20 concurrent raw clients, broker in this process`);
  for (const r of authResults) console.log(`  ${r.mode.padEnd(24)} ${fmt(r.connectsPerSecond)} connects/s (${fmt(r.connects)} in ${r.seconds.toFixed(2)} s, ${r.refused} refused), ${fmt(r.cpuMicrosPerConnect)} µs CPU per connect (broker and clients)`);
  const authzResults = await runAuthorizationBench(isQuick);
  console.log(`auth: QoS 1 publish → delivery with publish and receive checks, 10 topics, broker and clients in this process`);
  for (const r of authzResults) console.log(`  ${r.mode.padEnd(28)} ${fmt(r.cpuMicrosPerMessage)} µs CPU per message (${fmt(r.messages)} in ${r.seconds.toFixed(2)} s)`);
  results.auth = { connects: authResults, authorization: authzResults };
}
if (wants('connectors')) {
  console.log(`\nconnectors, 64-byte QoS 1 from 10 publishers to a local backend (level store; every message confirmed by the backend):`);
  results.connectors = await runConnectorBench(isQuick, (line) => console.log(line));
}

let generatorNote = '';
if (wants('generator') || wants('compare')) {
  const ceilings = await measureGeneratorCeilings(isQuick, version);
  for (const line of formatCeilings(ceilings)) console.log(line);
  results.generator = ceilings;
  generatorNote = ceilingsNote(ceilings);
}

if (wants('compare')) {
  const report = await runCompare({ isQuick, runs, version, only, generatorNote, log: (line) => console.log(line) });
  console.log(`\nsummary (markdown):\n\n${report.summaryMarkdown}`);
  results.compare = report;
}

if (wants('cluster')) {
  // Not in the default set: needs nats-server, and three engine servers plus nodes share the CPUs.
  results.cluster = await runClusterBench(isQuick, (line) => console.log(line));
}

const out = path.join(tmpdir(), `midge-bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify(results, null, 2));
console.log(`\nresults: ${out}`);
console.log(`elapsed: ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
