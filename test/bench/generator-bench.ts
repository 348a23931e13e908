/**
 * The load generator's own ceiling: the same clients the comparison uses, against trivial peers
 * (lib/trivial-peer.ts) that cost next to nothing. A broker figure close to these is a figure
 * about the generator, not the broker.
 *  publish   QoS 0 into a discarding sink (20 connections, and 1); QoS 1 and 2 windowed
 *            (10 × 32 in flight, the scenarios' shape) against a peer that only acks
 *  receive   QoS 0 from a source writing as fast as it can, to 1 and to 200 counting clients;
 *            QoS 1 to 1 client (each acked)
 *  connect   10,000 clients, 200 CONNECTs outstanding, to a peer that only answers CONNACK
 *  latency   QoS 0 at 5,000 msg/s through a peer that reflects every byte: the floor under
 *            scenario 5's percentiles
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startWindow } from './lib/broker-process.js';
import { hasExited, spawnChild, stopChild } from './lib/children.js';
import { ClientGroup } from './lib/client-group.js';
import { blast, PublishTemplate, publishWindowed } from './lib/load-client.js';
import type { TrivialPeerMode } from './lib/trivial-peer.js';
import { OUTSTANDING_CONNECTS } from './compare/connections.js';
import { measureLatency, type LatencyFigures } from './compare/latency.js';
import { pause } from './lib/wait.js';

const PAYLOAD = Buffer.alloc(64, 0x61);
const CEILING_CAP_MS = 60_000;
const TRIVIAL_PEER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lib/trivial-peer.ts');

export type CeilingKey = 'publishQos0' | 'publishQos0One' | 'publishQos1' | 'publishQos2' | 'receiveQos0' | 'receiveQos0Many' | 'receiveQos1' | 'connect';

export interface Ceiling {
  key: CeilingKey;
  name: string;
  /** Messages (or connects) per second the generator pushed, read or made. */
  rate: number;
  unit: 'msg/s' | 'connects/s';
  generatorCpuPercent: number;
  /** The trivial peer's CPU: near 100% means it, not the generator, was the limit. */
  peerCpuPercent: number;
}

export interface GeneratorCeilings {
  version: 4 | 5;
  ceilings: Ceiling[];
  latencyFloor: LatencyFigures;
}

interface TrivialPeer {
  port: number;
  pid: number;
  child: ChildProcess;
}

async function startTrivialPeer(mode: TrivialPeerMode, version: 4 | 5, qos = 0): Promise<TrivialPeer> {
  const child = spawnChild(process.execPath, ['--import', 'tsx', TRIVIAL_PEER, mode, String(version), String(qos)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      const match = /\{"port":(\d+)\}/.exec(buffered);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`trivial peer (${mode}) exited with ${code}`)));
    setTimeout(() => reject(new Error(`trivial peer (${mode}) did not listen within 30 s`)), 30_000).unref();
  }).catch(async (error: unknown) => {
    await stopChild(child);
    throw error;
  });
  return { port, pid: child.pid!, child };
}

async function withTrivialPeer<T>(mode: TrivialPeerMode, version: 4 | 5, qos: 0 | 1 | 2, fn: (peer: TrivialPeer, clients: ClientGroup) => Promise<T>): Promise<T> {
  const peer = await startTrivialPeer(mode, version, qos);
  const abort = new AbortController();
  const clients = new ClientGroup(peer.port, version, abort.signal);
  // Never hang: closing the clients makes whatever they wait for fail.
  const capTimer = setTimeout(() => abort.abort(), CEILING_CAP_MS);
  try {
    return await fn(peer, clients);
  } finally {
    clearTimeout(capTimer);
    abort.abort();
    await clients.destroyAll();
    if (!hasExited(peer.child)) await stopChild(peer.child);
  }
}

function ceiling(key: CeilingKey, name: string, messages: number, seconds: number, generatorCpu: number, peerCpu: number, unit: Ceiling['unit'] = 'msg/s'): Ceiling {
  return { key, name, rate: messages / seconds, unit, generatorCpuPercent: (generatorCpu / seconds) * 100, peerCpuPercent: (peerCpu / seconds) * 100 };
}

async function publishQos0(version: 4 | 5, connections: number, durationMs: number): Promise<Ceiling> {
  return withTrivialPeer('sink', version, 0, async (peer, clients) => {
    const pubs = await clients.connectMany(connections, (i) => ({ clientId: `ceiling-pub-${i}` }));
    const window = startWindow(peer.pid);
    const stopAt = performance.now() + durationMs;
    const sent = await Promise.all(pubs.map((p, i) => blast(p, new PublishTemplate(`bench/${i}/data`, PAYLOAD, 0, { version }), Infinity, stopAt)));
    // The sink half-closes after reading everything: then every byte has left the generator.
    for (const p of pubs) p.socket.end();
    await Promise.all(pubs.map((p) => p.closed));
    const w = window.end();
    const total = sent.reduce((a, b) => a + b, 0);
    return ceiling(connections > 1 ? 'publishQos0' : 'publishQos0One', `publish QoS 0, ${connections} connection${connections > 1 ? 's' : ''} → discarding sink`, total, w.seconds, w.generatorCpuSeconds, w.brokerCpuSeconds);
  });
}

async function publishWindowedCeiling(version: 4 | 5, qos: 1 | 2, perPublisher: number): Promise<Ceiling> {
  return withTrivialPeer('ack', version, 0, async (peer, clients) => {
    const pubs = await clients.connectMany(10, (i) => ({ clientId: `ceiling-pub-${i}` }));
    const window = startWindow(peer.pid);
    await Promise.all(pubs.map((p, i) => publishWindowed(p, new PublishTemplate(`bench/${i}`, PAYLOAD, qos, { version }), qos, perPublisher, 32)));
    const w = window.end();
    return ceiling(qos === 1 ? 'publishQos1' : 'publishQos2', `publish QoS ${qos}, 10 × 32 in flight → acking peer`, perPublisher * 10, w.seconds, w.generatorCpuSeconds, w.brokerCpuSeconds);
  });
}

async function receive(version: 4 | 5, qos: 0 | 1, connections: number, durationMs: number): Promise<Ceiling> {
  return withTrivialPeer('source', version, qos, async (peer, clients) => {
    const subs = await clients.connectMany(connections, (i) => ({ clientId: `ceiling-sub-${i}` }));
    const received = (): number => subs.reduce((n, s) => n + s.received, 0);
    await pause(300); // every connection up to speed
    const before = received();
    const window = startWindow(peer.pid);
    await pause(durationMs);
    const count = received() - before;
    const w = window.end();
    const what = qos === 0 ? 'QoS 0' : 'QoS 1 (each acked)';
    const key = qos === 1 ? 'receiveQos1' : connections > 1 ? 'receiveQos0Many' : 'receiveQos0';
    return ceiling(key, `receive ${what}, ${connections} connection${connections > 1 ? 's' : ''} ← source`, count, w.seconds, w.generatorCpuSeconds, w.brokerCpuSeconds);
  });
}

async function connect(version: 4 | 5, count: number): Promise<Ceiling> {
  return withTrivialPeer('sink', version, 0, async (peer, clients) => {
    const window = startWindow(peer.pid);
    const result = await clients.connectIdle(count, OUTSTANDING_CONNECTS, 60_000, 'ceiling-idle-');
    const w = window.end(result.lastConnectedAt);
    return ceiling('connect', `connect ${count.toLocaleString('en')} clients, ${OUTSTANDING_CONNECTS} outstanding → CONNACK-only peer`, result.connected, w.seconds, w.generatorCpuSeconds, w.brokerCpuSeconds, 'connects/s');
  });
}

async function latencyFloor(version: 4 | 5, warmupMs: number, measureMs: number): Promise<LatencyFigures> {
  return withTrivialPeer('reflect', version, 0, (peer, clients) =>
    measureLatency({ clients, pid: peer.pid, qos: 0, ratePerSecond: 5000, warmupMs, measureMs, topic: 'bench/reflect', isReflected: true }),
  );
}

export async function measureGeneratorCeilings(quick: boolean, version: 4 | 5): Promise<GeneratorCeilings> {
  const seconds = quick ? 1000 : 3000;
  const ceilings: Ceiling[] = [];
  ceilings.push(await publishQos0(version, 20, seconds));
  ceilings.push(await publishQos0(version, 1, seconds));
  ceilings.push(await publishWindowedCeiling(version, 1, quick ? 20_000 : 60_000));
  ceilings.push(await publishWindowedCeiling(version, 2, quick ? 10_000 : 30_000));
  ceilings.push(await receive(version, 0, 1, seconds));
  ceilings.push(await receive(version, 0, 200, seconds));
  ceilings.push(await receive(version, 1, 1, seconds));
  ceilings.push(await connect(version, 10_000));
  const latency = await latencyFloor(version, quick ? 500 : 1000, quick ? 2000 : 5000);
  return { version, ceilings, latencyFloor: latency };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en');

export function formatCeilings(g: GeneratorCeilings): string[] {
  const width = Math.max(...g.ceilings.map((c) => c.name.length));
  const l = g.latencyFloor;
  return [
    `\ngenerator ceiling — the load generator alone, against trivial peers (MQTT ${g.version === 5 ? '5.0' : '3.1.1'}, 64-byte payloads):`,
    ...g.ceilings.map(
      (c) => `  ${c.name.padEnd(width)}  ${fmt(c.rate).padStart(11)} ${c.unit.padEnd(10)}  generator CPU ${fmt(c.generatorCpuPercent).padStart(3)}%, peer CPU ${fmt(c.peerCpuPercent).padStart(3)}%`,
    ),
    `  latency floor, QoS 0 at 5,000 msg/s through a reflecting peer (${l.probe}): p50 ${fmt(l.p50Us)} µs, p99 ${fmt(l.p99Us)} µs, p99.9 ${fmt(l.p999Us)} µs (${fmt(l.samples)} samples)`,
    '  A broker figure near one of these is capped by the generator (peer CPU near 100%: the peer was the limit, so the ceiling is at least this).',
  ];
}

/** The ceilings that bound the comparison's figures, in one paragraph for the summary. */
export function ceilingsNote(g: GeneratorCeilings): string {
  const rate = (key: CeilingKey): string => fmt(g.ceilings.find((c) => c.key === key)?.rate ?? NaN);
  const l = g.latencyFloor;
  return (
    `Load generator alone (same machine, trivial peers): publishes ${rate('publishQos0')} QoS 0 msg/s, ` +
    `${rate('publishQos1')} QoS 1 and ${rate('publishQos2')} QoS 2 msg/s (10 × 32 in flight); reads ${rate('receiveQos0')} msg/s on one ` +
    `connection, ${rate('receiveQos0Many')} on 200; connects ${rate('connect')} clients/s; latency floor p50/p99/p99.9 ` +
    `${fmt(l.p50Us)}/${fmt(l.p99Us)}/${fmt(l.p999Us)} µs.`
  );
}
