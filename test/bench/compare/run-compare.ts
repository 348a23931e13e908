/**
 * Runs scenarios against every broker, a fresh broker per run, alternating the brokers within
 * each repetition (A B C D A B C D …) so drift on a shared machine hits all alike. A broker that
 * dies or runs past the scenario's cap is recorded as such; clients and broker are stopped
 * however the run ends.
 */
import { performance } from 'node:perf_hooks';
import { ClientGroup } from '../lib/client-group.js';
import { startPeer, PEER_LABELS, type PeerKind, type RunningPeer } from '../lib/peers.js';
import type { Metrics, Scenario } from './scenario.js';

export type RunStatus = 'ok' | 'incomplete' | 'died' | 'timeout' | 'error';

export interface RunOutcome {
  status: RunStatus;
  /** Present for 'ok' and 'incomplete' (the broker finished, short of the whole job). */
  metrics?: Metrics;
  note?: string;
}

export interface ScenarioOutcomes {
  scenario: Scenario;
  /** Brokers left out (Aedes under --v5) are absent. */
  runs: Partial<Record<PeerKind, RunOutcome[]>>;
  /** Wall time of all its runs, broker starts included. */
  seconds: number;
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)?.slice(0, 200) ?? '';
}

/** Rejects when `peer` exits or `signal` aborts; never leaves an unhandled rejection behind. */
function interruption(peer: RunningPeer, signal: AbortSignal): Promise<never> {
  const interrupted = new Promise<never>((_, reject) => {
    void peer.exited.then((how) => reject(new Error(`broker exited: ${how}`)));
    signal.addEventListener('abort', () => reject(new Error('aborted at the time cap')), { once: true });
  });
  interrupted.catch(() => undefined);
  return interrupted;
}

async function runOnce(scenario: Scenario, kind: PeerKind, version: 4 | 5): Promise<RunOutcome> {
  let peer: RunningPeer;
  try {
    peer = await startPeer(kind, scenario.peerLimits);
  } catch (error) {
    return { status: 'error', note: lastLine((error as Error).message.split('\n')[0] ?? '') };
  }
  const abort = new AbortController();
  const clients = new ClientGroup(peer.port, version, abort.signal);
  const capTimer = setTimeout(() => abort.abort(), scenario.capMs);
  try {
    const running = scenario.run({ peer, version, clients, signal: abort.signal });
    running.catch(() => undefined);
    const result = await Promise.race([running, interruption(peer, abort.signal)]);
    if (peer.exitDescription !== undefined) throw new Error('exited');
    return result.problem ? { status: 'incomplete', metrics: result.metrics, note: result.problem } : { status: 'ok', metrics: result.metrics };
  } catch (error) {
    if (peer.exitDescription !== undefined) return { status: 'died', note: `${peer.exitDescription}${lastLine(peer.outputTail()) ? `: ${lastLine(peer.outputTail())}` : ''}` };
    if (abort.signal.aborted) return { status: 'timeout', note: `no result within ${scenario.capMs / 1000} s` };
    return { status: 'error', note: (error as Error).message };
  } finally {
    clearTimeout(capTimer);
    abort.abort();
    await clients.destroyAll();
    await peer.stop();
  }
}

export async function runScenario(scenario: Scenario, kinds: PeerKind[], runs: number, version: 4 | 5, log: (line: string) => void): Promise<ScenarioOutcomes> {
  const startedAt = performance.now();
  const outcomes: ScenarioOutcomes = { scenario, runs: {}, seconds: 0 };
  for (let r = 0; r < runs; r++) {
    for (const kind of kinds) {
      const outcome = await runOnce(scenario, kind, version);
      (outcomes.runs[kind] ??= []).push(outcome);
      if (outcome.status !== 'ok') log(`  ${PEER_LABELS[kind]}, run ${r + 1}: ${outcome.status}${outcome.note ? ` (${outcome.note})` : ''}`);
    }
  }
  outcomes.seconds = (performance.now() - startedAt) / 1000;
  return outcomes;
}
