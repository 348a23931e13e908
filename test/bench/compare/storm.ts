/**
 * Scenarios 12 and 13: connection storms, opened by the C opener (test/bench/opener/opener.c) so
 * the figure is the broker's accept rate, not the generator's.
 *  12 N clean MQTT 3.1.1 connections, at most 100 awaiting CONNACK, held 1 s: accepted/s, broker
 *     CPU per connection, broker RSS per idle connection. Then the same storm again on the same
 *     broker ("warm"): the first is also Midge's JIT warm-up (~28% of its CPU in that storm was V8
 *     compiling, and its RSS includes the young generation growing with the storm's garbage);
 *     Mosquitto has neither, so the second storm shows what a broker that has been running pays.
 *  13 reconnect storm: N persistent sessions, each subscribed to its own topic with 10 QoS 1
 *     messages queued; the broker restarts on the same data dir; every client reconnects at once
 *     (1,000 awaiting CONNACK): time from the restart to the last CONNACK and to the last queued
 *     message, peak RSS, and what was not delivered (per session). Twice per run: MQTT 3.1.1 with
 *     clean session 0, then, on an emptied data dir, MQTT 5.0 with a Session Expiry Interval.
 *     Brokers whose sessions do not survive a restart (memory stores) are reported as such.
 */
import { performance } from 'node:perf_hooks';
import { cpuSeconds, raiseOpenFileLimit, rssBytes } from '../lib/broker-process.js';
import { ClientGroup } from '../lib/client-group.js';
import type { LoadClient } from '../lib/load-client.js';
import { PublishTemplate, publishWindowed } from '../lib/load-client.js';
import { openerBinary, runOpener, type OpenerResult } from '../lib/opener.js';
import type { RunningPeer } from '../lib/peers.js';
import { pause } from '../lib/wait.js';
import type { Metrics, RunResult, Scenario, ScenarioContext } from './scenario.js';

const PAYLOAD = Buffer.alloc(64, 0x61);
const SPARE_FILES = 200;

export function connectionStorm(count: number): Scenario {
  return {
    number: '12',
    title: `connection storm from a C opener: ${count.toLocaleString('en')} clean connections, 100 awaiting CONNACK, held 1 s`,
    metrics: [
      { key: 'acceptedPerSecond', label: 'accepted/s' },
      { key: 'cpuMicrosPerConnection', label: 'CPU µs/conn', isLowerBetter: true },
      { key: 'rssPerConnectionKiB', label: 'RSS KiB/conn', digits: 1, isLowerBetter: true },
      { key: 'connected', label: 'connected' },
      { key: 'warmAcceptedPerSecond', label: 'warm accepted/s' },
      { key: 'warmCpuMicrosPerConnection', label: 'warm CPU µs/conn', isLowerBetter: true },
      { key: 'warmRssPerConnectionKiB', label: 'warm RSS KiB/conn', digits: 1, isLowerBetter: true },
    ],
    headlines: [
      { key: 'acceptedPerSecond', label: `connection storm, ${count.toLocaleString('en')} (accepted/s)`, target: { mosquitto: 0.5 } },
      { key: 'cpuMicrosPerConnection', label: '… broker CPU per connection, µs (lower is better)' },
      { key: 'rssPerConnectionKiB', label: '… broker RSS per idle connection, KiB (lower is better)' },
      { key: 'warmAcceptedPerSecond', label: '… again on the same broker (warm, accepted/s)' },
      { key: 'warmCpuMicrosPerConnection', label: '… warm: broker CPU per connection, µs (lower is better)' },
      { key: 'warmRssPerConnectionKiB', label: '… warm: broker RSS per idle connection, KiB (lower is better)' },
    ],
    capMs: 120_000,
    async run({ peer }: ScenarioContext): Promise<RunResult> {
      const { binary, why } = openerBinary();
      if (!binary) return { metrics: {}, problem: why! };
      raiseOpenFileLimit(peer.pid, count + SPARE_FILES);
      const storm = async (idPrefix: string): Promise<{ acceptedPerSecond: number; cpuMicrosPerConnection: number; rssPerConnectionKiB: number; connected: number; failed: number }> => {
        const rssBefore = rssBytes(peer.pid);
        const cpuBefore = cpuSeconds(peer.pid);
        let rssHeld = NaN;
        // The RSS while all connections are held (the opener holds them 1 s after the last CONNACK).
        const sampler = setInterval(() => (rssHeld = Math.max(Number.isNaN(rssHeld) ? 0 : rssHeld, rssBytes(peer.pid))), 100);
        const result = await runOpener(binary, { port: peer.port, count, outstanding: 100, holdMs: 1000, isClean: true, idPrefix });
        clearInterval(sampler);
        const cpu = cpuSeconds(peer.pid) - cpuBefore;
        return {
          acceptedPerSecond: result.connected / (result.connectedMs / 1000),
          cpuMicrosPerConnection: (cpu * 1e6) / result.connected,
          rssPerConnectionKiB: (rssHeld - rssBefore) / result.connected / 1024,
          connected: result.connected,
          failed: result.failed,
        };
      };
      const { failed, ...cold } = await storm('storm-');
      // The broker lets go of the first storm's sockets before the second.
      await pause(1000);
      const warm = await storm('storm-warm-');
      const metrics = {
        ...cold,
        warmAcceptedPerSecond: warm.acceptedPerSecond,
        warmCpuMicrosPerConnection: warm.cpuMicrosPerConnection,
        warmRssPerConnectionKiB: warm.rssPerConnectionKiB,
      };
      const allFailed = failed + warm.failed;
      return allFailed > 0 ? { metrics, problem: `${allFailed.toLocaleString('en')} failed` } : { metrics };
    },
  };
}

/** One protocol's half of scenario 13: its figures (keys without a prefix) and what went wrong. */
interface StormPhase {
  metrics: Metrics;
  problems: string[];
}

const PHASE_METRICS = [
  { key: 'connectedMs', label: 'all CONNACKs ms', isLowerBetter: true },
  { key: 'deliveredMs', label: 'all delivered ms', isLowerBetter: true },
  { key: 'restartMs', label: 'first CONNACK ms', isLowerBetter: true },
  { key: 'peakRssMB', label: 'peak RSS MB', digits: 1, isLowerBetter: true },
  { key: 'missing', label: 'missing', isLowerBetter: true },
];

/** Session Expiry Interval of the 5.0 sessions: long enough to outlive the run. */
const V5_SESSION_EXPIRY_S = 3600;

export function reconnectStorm(sessions: number, perSession: number): Scenario {
  const expected = sessions * perSession;
  return {
    number: '13',
    title:
      `reconnect storm: ${sessions.toLocaleString('en')} persistent sessions × ${perSession} queued QoS 1, broker restarted, all reconnect at once ` +
      '(MQTT 3.1.1 clean session 0, then MQTT 5.0 with session expiry on an emptied data dir); times from the restart',
    metrics: [
      ...PHASE_METRICS.map((m) => ({ ...m, label: `3.1.1 ${m.label}` })),
      ...PHASE_METRICS.map((m) => ({ ...m, key: `v5${m.key[0]!.toUpperCase()}${m.key.slice(1)}`, label: `5.0 ${m.label}` })),
    ],
    headlines: [
      { key: 'deliveredMs', label: `reconnect storm 3.1.1: restart → ${expected.toLocaleString('en')} queued delivered, ms (lower is better)` },
      { key: 'connectedMs', label: '… 3.1.1: restart → every CONNACK, ms (lower is better)' },
      { key: 'peakRssMB', label: '… 3.1.1: peak RSS, MB (lower is better)' },
      { key: 'v5DeliveredMs', label: `reconnect storm 5.0: restart → ${expected.toLocaleString('en')} queued delivered, ms (lower is better)` },
      { key: 'v5ConnectedMs', label: '… 5.0: restart → every CONNACK, ms (lower is better)' },
      { key: 'v5PeakRssMB', label: '… 5.0: peak RSS, MB (lower is better)' },
    ],
    peerLimits: { persistence: true },
    capMs: 300_000,
    async run({ peer, clients, signal }: ScenarioContext): Promise<RunResult> {
      if (peer.kind === 'midge-memory' || peer.kind === 'aedes') return { metrics: {}, problem: 'sessions do not survive a restart (memory)' };
      const { binary, why } = openerBinary();
      if (!binary) return { metrics: {}, problem: why! };
      raiseOpenFileLimit(process.pid, sessions + SPARE_FILES);
      const v311 = await reconnectPhase(binary, peer, clients, sessions, perSession);
      // The 5.0 sessions alone in the store: the 3.1.1 ones (their queues delivered) would be
      // loaded at the second restart too.
      await peer.wipe();
      const v5Clients = new ClientGroup(peer.port, 5, signal);
      let v5: StormPhase;
      try {
        v5 = await reconnectPhase(binary, peer, v5Clients, sessions, perSession);
      } finally {
        await v5Clients.destroyAll();
      }
      const metrics: Metrics = { ...v311.metrics };
      for (const [key, value] of Object.entries(v5.metrics)) metrics[`v5${key[0]!.toUpperCase()}${key.slice(1)}`] = value;
      const problems = [...v311.problems.map((p) => `3.1.1: ${p}`), ...v5.problems.map((p) => `5.0: ${p}`)];
      return problems.length ? { metrics, problem: problems.join('; ') } : { metrics };
    },
  };
}

/**
 * Sets up `sessions` persistent sessions in `clients`' protocol version (each subscribed to its own
 * topic, then gone), queues `perSession` QoS 1 messages for each, restarts the broker and has the
 * C opener reconnect them all at once in the same version, acking every PUBLISH.
 */
async function reconnectPhase(binary: string, peer: RunningPeer, clients: ClientGroup, sessions: number, perSession: number): Promise<StormPhase> {
  const expected = sessions * perSession;
  const version = clients.version;
  for (let first = 0; first < sessions; first += 200) {
    const batch: LoadClient[] = await clients.connectMany(Math.min(200, sessions - first), (i) => ({
      clientId: `rs-${first + i}`,
      clean: false,
      sessionExpiryInterval: V5_SESSION_EXPIRY_S,
    }));
    await Promise.all(batch.map((c, i) => c.subscribe(`storm/${first + i}`, 1)));
    await Promise.all(batch.map((c) => c.disconnect()));
  }
  const templates = Array.from({ length: sessions }, (_, i) => new PublishTemplate(`storm/${i}`, PAYLOAD, 1, { version }));
  const pub = await clients.connect({ clientId: 'rs-pub' });
  // Several templates are published in turn: message k goes to session k mod sessions. A 5.0
  // client keeps within the broker's Receive Maximum (Midge's default is 32) [5.0 MQTT-3.3.4-7].
  await publishWindowed(pub, templates, 1, expected, version === 5 ? 32 : 64);
  await pub.disconnect();

  const restartedAt = performance.now();
  await peer.restart();
  const restartMs = performance.now() - restartedAt;
  raiseOpenFileLimit(peer.pid, sessions + SPARE_FILES);
  let peakRss = rssBytes(peer.pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(peer.pid))), 50);
  const openerStartedAt = performance.now();
  let result: OpenerResult;
  try {
    result = await runOpener(binary, {
      port: peer.port,
      count: sessions,
      outstanding: 1000,
      holdMs: 0,
      isClean: false,
      idPrefix: 'rs-',
      expectMessages: expected,
      idleMs: 10_000,
      version,
      sessionExpirySeconds: V5_SESSION_EXPIRY_S,
    });
  } finally {
    clearInterval(sampler);
  }
  const offset = openerStartedAt - restartedAt;
  const metrics: Metrics = {
    connectedMs: offset + result.connectedMs,
    deliveredMs: offset + result.deliveredMs,
    restartMs,
    peakRssMB: peakRss / 2 ** 20,
    // Counted per session by the opener: one session's redeliveries cannot hide another's loss.
    missing: result.missing,
  };
  const problems = [
    ...(result.failed > 0 ? [`${result.failed} reconnects failed (${result.failedHow})`] : []),
    ...(result.connected - result.sessionsPresent > 0 ? [`${(result.connected - result.sessionsPresent).toLocaleString('en')} CONNACKs without Session Present`] : []),
    ...(result.missing > 0 ? [`${result.missing.toLocaleString('en')} queued messages not delivered`] : []),
    ...(result.duplicates > 0 ? [`${result.duplicates.toLocaleString('en')} delivered twice (DUP)`] : []),
  ];
  return { metrics, problems };
}
