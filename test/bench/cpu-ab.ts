/**
 * A/B of broker CPU per message between builds given as name=path/to/cli.js: each pair starts a
 * fresh broker per build (the order alternates, ABBA), which runs `rounds` rounds of scenario 3/4's
 * shape (10 publishers × 32 in flight → 1 subscriber, same QoS). Round 1 is the cold one (a fresh
 * broker's JIT warm-up, what `compare --quick` measures); the median of the later rounds is "warm".
 * AB_THREADS=1 prints each round's CPU split into the main thread and the others (V8's compiler
 * and GC helpers, libuv's pool), by thread name. Figures on a loaded machine: many pairs, medians.
 *   node --import tsx test/bench/cpu-ab.ts --qos 2 --store memory,level --messages 10000 --rounds 3 --pairs 8 \
 *     before=/tmp/before/dist/cli.js after=dist/cli.js [--node-args "--cpu-prof --cpu-prof-dir=/tmp/p-%TAG%"]
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { spawnChild, stopChild } from './lib/children.js';
import { LoadClient, PublishTemplate, publishWindowed } from './lib/load-client.js';
import { settle, pause } from './lib/wait.js';
import { freePort } from '../helpers/ports.js';

/** CPU seconds per thread name (main = the first tid). */
function threadCpu(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const name = Number(tid) === pid ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim().replace(/[0-9]+$/, '');
    out[name] = (out[name] ?? 0) + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
  }
  return out;
}
const cpuSeconds = (pid: number): number => Object.values(threadCpu(pid)).reduce((a, b) => a + b, 0);

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const qos = Number(opt('qos', '2')) as 1 | 2;
const stores = opt('store', 'level').split(',');
const messages = Number(opt('messages', '10000'));
const rounds = Number(opt('rounds', '4'));
const pairs = Number(opt('pairs', '3'));
const nodeArgs = opt('node-args', '').split(' ').filter((a) => a !== '');
const builds = args.filter((a) => a.includes('=') && !a.startsWith('--')).map((a) => {
  const [name, cli] = a.split('=');
  return { name: name!, cli: cli! };
});

const PAYLOAD = Buffer.alloc(64, 0x61);

async function runBroker(cli: string, store: string, tag: string): Promise<number[]> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qos2-ab-'));
  const extra = nodeArgs.map((a) => a.replace('%TAG%', tag));
  const child = spawnChild(process.execPath, [...extra, cli, '--port', String(port), '--store', store, '--data-dir', dir, '--log-level', 'warn'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, MIDGE_HTTP__ENABLED: 'false', MIDGE_LIMITS__MAX_QUEUED_MESSAGES: '10000000', MIDGE_LIMITS__MAX_QUEUED_BYTES: String(4 * 1024 ** 3) },
  });
  try {
    for (;;) {
      try {
        const probe = await LoadClient.connect(port, { clientId: 'probe' });
        probe.client.destroy();
        break;
      } catch {
        await pause(20);
      }
    }
    const sub = (await LoadClient.connect(port, { clientId: 'sub' })).client;
    await sub.subscribe('bench/#', qos);
    const pubs = await Promise.all(Array.from({ length: 10 }, async (_, i) => (await LoadClient.connect(port, { clientId: `pub-${i}` })).client));
    const perMsg: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const base = sub.received;
      if (process.env.AB_MARK) console.log(`@@ROUND-START ${r}`);
      const before = cpuSeconds(child.pid!);
      const threadsBefore = threadCpu(child.pid!);
      await Promise.all(pubs.map((p, i) => publishWindowed(p, new PublishTemplate(`bench/${i}`, PAYLOAD, qos), qos, messages / 10, 32)));
      const s = await settle(() => sub.received - base, messages, 5000, 120_000);
      if (!s.isComplete) throw new Error(`lost ${messages - s.count}`);
      perMsg.push(((cpuSeconds(child.pid!) - before) / messages) * 1e6);
      if (process.env.AB_MARK) console.log(`@@ROUND-END ${r}`);
      if (process.env.AB_THREADS) {
        const after = threadCpu(child.pid!);
        console.log(`   round ${r} ` + Object.entries(after).map(([k, v]) => `${k} ${(((v - (threadsBefore[k] ?? 0)) / messages) * 1e6).toFixed(1)}`).join(', '));
      }
    }
    for (const c of [sub, ...pubs]) c.destroy();
    return perMsg;
  } finally {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const results = new Map<string, { cold: number[]; warm: number[] }>();
for (let p = 0; p < pairs; p++) {
  const order = p % 2 === 0 ? builds : [...builds].reverse();
  for (const store of stores) {
    for (const b of order) {
      const key = `${b.name} ${store}`;
      const perMsg = await runBroker(b.cli, store, `${b.name}-${store}-${p}`);
      const entry = results.get(key) ?? { cold: [], warm: [] };
      entry.cold.push(perMsg[0]!);
      entry.warm.push(median(perMsg.slice(1)));
      results.set(key, entry);
      console.log(`pair ${p} ${key.padEnd(20)} µs/msg per round: ${perMsg.map((x) => x.toFixed(1)).join(' ')}  load ${os.loadavg()[0]!.toFixed(1)}`);
    }
  }
}
console.log(`\nQoS ${qos}, ${messages} msgs/round, ${rounds} rounds, ${pairs} pairs — medians (µs broker CPU per message; msg per CPU-s)`);
for (const [key, { cold, warm }] of results) {
  console.log(`${key.padEnd(20)} cold ${median(cold).toFixed(1)} (${Math.round(1e6 / median(cold))})  warm ${median(warm).toFixed(1)} (${Math.round(1e6 / median(warm))})  warm all: ${warm.map((x) => x.toFixed(1)).join(' ')}`);
}
process.exit(0);
