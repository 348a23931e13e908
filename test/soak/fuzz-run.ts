/**
 * `npm run soak -- fuzz`: the fuzz harness as a long run. Malformed, truncated, mutated and
 * out-of-order packets (test/helpers/fuzz-input.ts) go to every listener — TCP, TLS, WebSocket
 * (one packet per frame, or bytes split across frames) and TCP behind a PROXY header (valid,
 * damaged or missing) — from many connections at once until `packets` have been written, while a
 * well-behaved publisher and subscriber must see every QoS 1 message, in order. The broker runs
 * in this process (level store) so the heap can be sampled and compared with its baseline after a
 * GC. An uncaught exception or an error-level log line is a finding: the inputs in flight at that
 * moment are appended to test/broker/fuzz-corpus.ts, which fuzz.test.ts replays first.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import v8 from 'node:v8';
import vm from 'node:vm';
import WebSocket from 'ws';
import { createLogger } from '../../src/observability/index.js';
import { startBroker } from '../helpers/broker.js';
import { makeTestCerts } from '../helpers/certs.js';
import { closeAllClients, connectClient } from '../helpers/clients.js';
import { abusiveStream } from '../helpers/fuzz-input.js';
import { prng } from '../helpers/prng.js';
import { makeTempDir } from '../helpers/temp.js';
import { ROOT } from '../helpers/process.js';

const PARALLEL = 24;
const CORPUS_FILE = path.join(ROOT, 'test/broker/fuzz-corpus.ts');

function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

type ListenerKind = 'tcp' | 'tls' | 'ws' | 'proxy';

/** What goes before the MQTT bytes on the PROXY listener: a valid header, a damaged one, or none. */
function proxyPrefix(random: () => number): Buffer {
  const pick = random();
  if (pick < 0.6) return Buffer.from(`PROXY TCP4 203.0.113.${Math.floor(random() * 255)} 10.0.0.1 ${1024 + Math.floor(random() * 60000)} 1883\r\n`);
  if (pick < 0.8) {
    const header = Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 1883\r\n');
    header[Math.floor(random() * header.length)] = Math.floor(random() * 256);
    return header;
  }
  if (pick < 0.9) return Buffer.from('PROXY UNKNOWN\r\n');
  return Buffer.alloc(0);
}

interface Target {
  kind: ListenerKind;
  port: number;
}

/** Sends one abusive stream; resolves once the broker (or the timeout) closed the connection. */
function sendStream(target: Target, chunks: Buffer[], random: () => number, ca: Buffer): Promise<void> {
  return new Promise((resolve) => {
    let isDone = false;
    const finish = (): void => {
      if (isDone) return;
      isDone = true;
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      if (target.kind === 'ws') ws?.terminate();
      else socket?.destroy();
      finish();
    }, 3000);
    let socket: net.Socket | undefined;
    let ws: WebSocket | undefined;
    if (target.kind === 'ws') {
      ws = new WebSocket(`ws://127.0.0.1:${target.port}/mqtt`, 'mqtt', { perMessageDeflate: false });
      ws.on('error', () => finish());
      ws.on('close', () => finish());
      ws.on('open', () => {
        // One packet per frame, or all bytes re-cut into arbitrary frames (MQTT over WS allows both).
        const frames = random() < 0.5 ? chunks : recut(Buffer.concat(chunks), random);
        for (const frame of frames) ws!.send(frame);
        ws!.close();
      });
      return;
    }
    const onConnect = (): void => {
      const out = target.kind === 'proxy' ? [proxyPrefix(random), ...chunks] : chunks;
      for (const chunk of out) socket!.write(chunk);
      socket!.end();
    };
    socket =
      target.kind === 'tls'
        ? tls.connect({ port: target.port, host: '127.0.0.1', ca, servername: 'localhost' }, onConnect)
        : net.connect(target.port, '127.0.0.1', onConnect);
    socket.on('data', () => undefined);
    socket.on('error', () => finish());
    socket.on('close', () => finish());
  });
}

function recut(bytes: Buffer, random: () => number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + Math.floor(random() * 40);
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

/** Appends inputs to the regression corpus, each with a line saying what they broke. */
function addToCorpus(inputs: Buffer[][], why: string, seed: number): void {
  const source = readFileSync(CORPUS_FILE, 'utf8');
  const end = source.lastIndexOf('];');
  const lines = inputs.map((chunks) => `  // found by \`npm run soak -- fuzz --seed ${seed}\` (in flight when: ${why.replaceAll('\n', ' ').slice(0, 120)})\n  '${Buffer.concat(chunks).toString('hex')}',\n`);
  writeFileSync(CORPUS_FILE, source.slice(0, end) + lines.join('') + source.slice(end));
}

export async function runFuzzSoak(options: { packets: number; seed: number }): Promise<boolean> {
  const startedAt = performance.now();
  const certDir = await makeTempDir('midge-fuzz-certs-');
  const certs = makeTestCerts(certDir);
  const findings: string[] = [];
  const inFlight = new Set<Buffer[]>();
  /** A finding: the inputs in flight go to the corpus (one of them did it; the others cost nothing). */
  const noteFinding = (why: string): void => {
    findings.push(why);
    if (findings.length <= 3) addToCorpus([...inFlight], why, options.seed);
  };
  const errorLog = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      noteFinding(`error log: ${chunk.toString().trim().slice(0, 300)}`);
      callback();
    },
  });
  const tb = await startBroker(
    {
      store: { type: 'level' },
      limits: { maxPacketSize: 65536 },
      listeners: [
        { type: 'mqtt', host: '127.0.0.1', port: 0 },
        { type: 'mqtts', host: '127.0.0.1', port: 0, cert: certs.serverCertFile, key: certs.serverKeyFile },
        { type: 'ws', host: '127.0.0.1', port: 0, path: '/mqtt' },
        { type: 'mqtt', host: '127.0.0.1', port: 0, proxyProtocol: true },
      ],
    },
    { logger: createLogger('error', errorLog) },
  );
  const [tcp, tlsAddress, wsAddress, proxy] = tb.broker.boundAddresses;
  const targets: Target[] = [
    { kind: 'tcp', port: tcp!.port },
    { kind: 'tls', port: tlsAddress!.port },
    { kind: 'ws', port: wsAddress!.port },
    { kind: 'proxy', port: proxy!.port },
  ];
  const onUncaught = (error: unknown): void => noteFinding(`uncaught ${(error as Error)?.stack ?? String(error)}`);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  try {
    const url = `mqtt://127.0.0.1:${tcp!.port}`;
    let goodReceived = 0;
    let warmReceived = 0;
    let isGoodInOrder = true;
    const subscriber = await connectClient(url, { clientId: 'good-sub' });
    subscriber.on('message', (topic, payload) => {
      if (topic !== 'good/t') {
        warmReceived++;
        return;
      }
      if (Number(payload.toString()) !== goodReceived) isGoodInOrder = false;
      goodReceived++;
    });
    await subscriber.subscribeAsync('good/#', { qos: 1 });
    const publisher = await connectClient(url, { clientId: 'good-pub' });
    for (let i = 0; i < 200; i++) await publisher.publishAsync('good/warm', String(i), { qos: 1 });
    while (warmReceived < 200) await new Promise((r) => setTimeout(r, 50));
    collectGarbage();
    const baseline = process.memoryUsage().heapUsed;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 250);

    const random = prng(options.seed);
    const perKind: Record<ListenerKind, { connections: number; packets: number }> = {
      tcp: { connections: 0, packets: 0 },
      tls: { connections: 0, packets: 0 },
      ws: { connections: 0, packets: 0 },
      proxy: { connections: 0, packets: 0 },
    };
    let packets = 0;
    let isRunning = true;
    let goodSent = 0;
    const goodPublishing = (async () => {
      while (isRunning) await publisher.publishAsync('good/t', String(goodSent++), { qos: 1 });
    })();
    let lastReport = performance.now();
    await Promise.all(
      Array.from({ length: PARALLEL }, async (_, worker) => {
        while (packets < options.packets && findings.length === 0) {
          // TLS handshakes cost far more CPU than the rest: fewer of them, 1 worker in 8.
          const target = worker % 8 === 0 ? targets[1]! : targets[[0, 2, 3][Math.floor(random() * 3)]!]!;
          const chunks = abusiveStream(random);
          inFlight.add(chunks);
          await sendStream(target, chunks, random, certs.ca);
          inFlight.delete(chunks);
          packets += chunks.length;
          perKind[target.kind].connections++;
          perKind[target.kind].packets += chunks.length;
          if (performance.now() - lastReport > 30_000) {
            lastReport = performance.now();
            process.stdout.write(`  ${packets} packets, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)} MiB, good client ${goodReceived}/${goodSent}\n`);
          }
        }
      }),
    );
    isRunning = false;
    await goodPublishing;
    const drainDeadline = Date.now() + 30_000;
    while (goodReceived < goodSent && Date.now() < drainDeadline) await new Promise((r) => setTimeout(r, 100));
    const closeDeadline = Date.now() + 30_000;
    while (tb.broker.admin.connectionCount > 2 && Date.now() < closeDeadline) await new Promise((r) => setTimeout(r, 100));
    clearInterval(sampler);
    collectGarbage();
    const after = process.memoryUsage().heapUsed;
    const seconds = (performance.now() - startedAt) / 1000;
    const mib = (n: number): string => (n / 2 ** 20).toFixed(1);
    const connections = Object.values(perKind).reduce((n, k) => n + k.connections, 0);
    process.stdout.write(
      `\nfuzz soak (seed ${options.seed}): ${packets} malformed/truncated/mutated/out-of-order packets and fragments over ${connections} connections in ${seconds.toFixed(0)} s\n` +
        Object.entries(perKind)
          .map(([kind, k]) => `  ${kind.padEnd(6)} ${String(k.connections).padStart(8)} connections ${String(k.packets).padStart(9)} packets\n`)
          .join('') +
        `good client: ${goodSent} QoS 1 messages sent, ${goodReceived} received, ${isGoodInOrder ? 'in order' : 'OUT OF ORDER'}\n` +
        `heap: baseline ${mib(baseline)} MiB, peak ${mib(peak)} MiB (sampled every 250 ms), after GC ${mib(after)} MiB; ` +
        `sessions left ${tb.broker.admin.sessionCount}, connections left ${tb.broker.admin.connectionCount}, protocol violations seen ${tb.broker.admin.stats.protocolViolations}\n`,
    );
    const problems = [...findings];
    if (goodReceived !== goodSent || !isGoodInOrder) problems.push('the well-behaved client was affected');
    if (after - baseline > 32 * 2 ** 20) problems.push(`heap grew by ${mib(after - baseline)} MiB`);
    if (tb.broker.admin.connectionCount !== 2) problems.push(`${tb.broker.admin.connectionCount - 2} abusive connections still open`);
    if (problems.length > 0) {
      if (findings.length > 0) process.stdout.write(`the inputs in flight at the first findings were added to ${CORPUS_FILE}\n`);
      process.stdout.write(`FAILED:\n${problems.slice(0, 20).map((p) => `  - ${p}`).join('\n')}\n`);
      return false;
    }
    process.stdout.write('PASSED: no crash, no error, the good client unaffected, heap back near its baseline\n');
    return true;
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    await closeAllClients();
    await tb.cleanup();
    await rm(certDir, { recursive: true, force: true });
  }
}
