/**
 * Scenario 9: start-up time, spawn → first CONNACK (polled: connect, CONNECT, wait), the
 * broker's CPU time until then (all its threads, /proc: on a loaded machine the wall time is
 * mostly waiting for a core, the CPU time is not), and idle RSS at that moment and 1 s later
 * (VmRSS, /proc/<pid>/status). The runner's start of every broker measures this; this scenario
 * reports it.
 */
import { rssBytes } from '../lib/broker-process.js';
import { pause } from '../lib/wait.js';
import type { RunResult, Scenario, ScenarioContext } from './scenario.js';

const MB = 1024 * 1024;

export function footprint(): Scenario {
  return {
    number: '9',
    title: 'footprint: start-up (spawn → first CONNACK) and idle RSS',
    metrics: [
      { key: 'startupMs', label: 'start-up ms', isLowerBetter: true },
      { key: 'startupCpuMs', label: 'CPU ms to ready', isLowerBetter: true },
      { key: 'rssAtReadyMB', label: 'RSS at ready MB', digits: 1, isLowerBetter: true },
      { key: 'rssAfter1sMB', label: 'RSS +1 s MB', digits: 1, isLowerBetter: true },
    ],
    headlines: [
      { key: 'startupMs', label: 'start-up to first CONNACK, ms (lower is better)' },
      { key: 'startupCpuMs', label: '… broker CPU to the first CONNACK, ms (lower is better)' },
      { key: 'rssAfter1sMB', label: '… idle RSS 1 s after start, MB (lower is better)' },
    ],
    capMs: 30_000,
    async run({ peer, signal }: ScenarioContext): Promise<RunResult> {
      await pause(1000, signal);
      return { metrics: { startupMs: peer.startupMs, startupCpuMs: peer.startupCpuMs, rssAtReadyMB: peer.rssAtReady / MB, rssAfter1sMB: rssBytes(peer.pid) / MB } };
    },
  };
}
