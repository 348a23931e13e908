/**
 * `npm run bench -- compare`: Midge (memory and level stores) against Mosquitto and Aedes on the
 * benchmark issue's scenarios 1–9, with the sizes of a quick or a full run.
 */
import { hasMosquitto, MOSQUITTO, type PeerKind } from '../lib/peers.js';
import { connections } from './connections.js';
import { footprint } from './footprint.js';
import { latency } from './latency.js';
import { offlineQueue } from './offline-queue.js';
import { peerFigures, scenarioTable, summaryMarkdown, ALL_KINDS, type Absences } from './report.js';
import { retained, retainedQos1 } from './retained.js';
import { slowConsumer } from './slow-consumer.js';
import { connectionStorm, reconnectStorm } from './storm.js';
import { runScenario, type RunOutcome } from './run-compare.js';
import type { Metrics, Scenario } from './scenario.js';
import { fanIn, fanOut, qos1EndToEnd, qos2EndToEnd } from './throughput.js';

export function compareScenarios(isQuick: boolean): Scenario[] {
  return [
    fanIn(isQuick ? 5_000 : 20_000),
    fanOut(isQuick ? 500 : 2_000),
    qos1EndToEnd(isQuick ? 20_000 : 100_000),
    qos2EndToEnd(isQuick ? 10_000 : 50_000),
    latency(isQuick ? 500 : 1_000, isQuick ? 3_000 : 10_000),
    connections(10_000, isQuick ? 20_000 : 60_000),
    retained(10_000),
    offlineQueue(isQuick ? 10_000 : 50_000),
    footprint(),
    slowConsumer('10', isQuick ? 50_000 : 200_000, 100_000),
    slowConsumer('11', isQuick ? 50_000 : 200_000, 1_000),
    connectionStorm(isQuick ? 2_000 : 5_000),
    // The size in quick runs too: 10,000 persistent sessions × 10 queued (setup ~20 s per
    // broker and protocol); BENCH_RECONNECT_SESSIONS sets another count (a smaller storm, a profile).
    reconnectStorm(reconnectSessions(), 10),
    retainedQos1(10_000, 100),
  ];
}

/** Scenario 13's session count: BENCH_RECONNECT_SESSIONS, else the issue's 10,000. */
function reconnectSessions(): number {
  const wanted = Number(process.env.BENCH_RECONNECT_SESSIONS ?? 10_000);
  if (!Number.isInteger(wanted) || wanted < 1) throw new Error(`BENCH_RECONNECT_SESSIONS must be a positive integer, not ${process.env.BENCH_RECONNECT_SESSIONS}`);
  return wanted;
}

export interface CompareOptions {
  isQuick: boolean;
  runs: number;
  version: 4 | 5;
  /** Scenario numbers to run ('1'…'9'); all when empty. */
  only: string[];
  /** The generator's ceilings in a sentence, printed under the summary table. */
  generatorNote: string;
  log: (line: string) => void;
}

export interface CompareReport {
  version: 4 | 5;
  runs: number;
  absences: Absences;
  scenarios: Array<{ number: string; title: string; seconds: number; runs: Partial<Record<PeerKind, RunOutcome[]>>; medians: Partial<Record<PeerKind, Metrics>> }>;
  summaryMarkdown: string;
}

export async function runCompare(options: CompareOptions): Promise<CompareReport> {
  const absences: Absences = {};
  if (!hasMosquitto) absences.mosquitto = `not installed (${MOSQUITTO})`;
  // Aedes speaks MQTT 3.1.1 only.
  if (options.version === 5) absences.aedes = 'n/a (3.1.1 only)';
  const kinds = ALL_KINDS.filter((k) => !absences[k]);
  const scenarios = compareScenarios(options.isQuick).filter((s) => options.only.length === 0 || options.only.includes(s.number));
  const outcomes = [];
  for (const scenario of scenarios) {
    const result = await runScenario(scenario, kinds, options.runs, options.version, options.log);
    for (const line of scenarioTable(result, options.runs, absences)) options.log(line);
    outcomes.push(result);
  }
  const caption =
    `MQTT ${options.version === 5 ? '5.0' : '3.1.1'}, ${options.isQuick ? 'quick' : 'full'} sizes, median of ${options.runs} run${options.runs > 1 ? 's' : ''} ` +
    'per broker (brokers alternating), 64-byte payloads, broker and load generator on the same machine.';
  return {
    version: options.version,
    runs: options.runs,
    absences,
    scenarios: outcomes.map((o) => ({
      number: o.scenario.number,
      title: o.scenario.title,
      seconds: o.seconds,
      runs: o.runs,
      medians: Object.fromEntries(Object.entries(o.runs).map(([kind, runs]) => [kind, peerFigures(runs).medians])),
    })),
    summaryMarkdown: summaryMarkdown(outcomes, absences, caption, options.generatorNote),
  };
}
