/**
 * Scenario 6: N idle clients (keep-alive 60) connect, at most 200 CONNECTs outstanding:
 * connects/s, connects per broker CPU-second, and the broker's RSS per connection
 * ((RSS after − RSS before) / connected, VmRSS from /proc/<pid>/status — garbage not yet
 * collected counts, as it does for the machine). A broker that is still not done at the cap is
 * reported with how many it reached, not averaged in.
 * On loopback the connecting side pays for most of the TCP handshake in its connect() call
 * (~50 µs here): the generator's connect ceiling (`generator`) is near the brokers' rates, so
 * connects per broker CPU-second is the figure that compares brokers.
 * Both processes hold N sockets: open-file limits are raised to fit (prlimit, up to the hard
 * limit) or the scenario shrinks to them and says so.
 */
import { raiseOpenFileLimit, rssBytes, startWindow } from '../lib/broker-process.js';
import type { RunResult, Scenario, ScenarioContext } from './scenario.js';

export const OUTSTANDING_CONNECTS = 200;
/** Files each process needs besides the connections (listeners, stdio, the store, node itself). */
const SPARE_FILES = 200;

export function connections(count: number, capMs: number): Scenario {
  return {
    number: '6',
    title: `connections: ${count.toLocaleString('en')} idle clients, ${OUTSTANDING_CONNECTS} CONNECTs outstanding, cap ${capMs / 1000} s`,
    metrics: [
      { key: 'connectsPerSecond', label: 'connects/s' },
      { key: 'perCpuSecond', label: 'per CPU-s' },
      { key: 'rssPerConnectionKB', label: 'RSS KB/conn', digits: 1, isLowerBetter: true },
      { key: 'connected', label: 'connected' },
      { key: 'generatorCpuPercent', label: 'generator CPU %' },
    ],
    headlines: [
      { key: 'connectsPerSecond', label: `${count.toLocaleString('en')} connections (connects/s)`, canBeGeneratorBound: true },
      { key: 'perCpuSecond', label: '… connects per broker CPU-second' },
      { key: 'rssPerConnectionKB', label: '… broker RSS per connection, KB (lower is better)' },
    ],
    // Runs past the cap are the runner's business only if a CONNECT hangs beyond it.
    capMs: capMs + 30_000,
    async run({ peer, clients }: ScenarioContext): Promise<RunResult> {
      const wanted = count + SPARE_FILES;
      const fileLimit = Math.min(raiseOpenFileLimit(process.pid, wanted), raiseOpenFileLimit(peer.pid, wanted));
      const target = Math.min(count, fileLimit - SPARE_FILES);
      const rssBefore = rssBytes(peer.pid);
      const window = startWindow(peer.pid);
      const { connected, failed, firstFailure, lastConnectedAt } = await clients.connectIdle(target, OUTSTANDING_CONNECTS, capMs, 'idle-');
      const rssAfter = rssBytes(peer.pid);
      const measured = window.end(lastConnectedAt);
      const metrics = {
        connectsPerSecond: connected / measured.seconds,
        perCpuSecond: connected / measured.brokerCpuSeconds,
        rssPerConnectionKB: (rssAfter - rssBefore) / connected / 1024,
        connected,
        failed,
        generatorCpuPercent: (measured.generatorCpuSeconds / measured.seconds) * 100,
      };
      const problems = [
        ...(target < count ? [`open-file limit ${fileLimit}: ${target.toLocaleString('en')} attempted`] : []),
        ...(connected + failed < target ? [`timeout: ${connected.toLocaleString('en')} of ${target.toLocaleString('en')} in ${capMs / 1000} s`] : []),
        ...(failed > 0 ? [`${failed.toLocaleString('en')} refused or dropped (${firstFailure})`] : []),
      ];
      return problems.length ? { metrics, problem: problems.join('; ') } : { metrics };
    },
  };
}
