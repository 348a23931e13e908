/**
 * The brokers a comparison runs: Midge (memory and level stores), Mosquitto (Debian's
 * /usr/sbin/mosquitto, when installed) and Aedes (npm devDependency, in-memory persistence) —
 * each a child process on a free loopback port, stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../../helpers/temp.js';
import { spawnBroker } from '../../helpers/process.js';
import { freePort } from '../../helpers/ports.js';

export type PeerKind = 'midge-memory' | 'midge-level' | 'mosquitto' | 'aedes';

export interface RunningPeer {
  kind: PeerKind;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const hasMosquitto = existsSync(MOSQUITTO);

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`peer exited with ${child.exitCode}`);
    const isOpen = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (isOpen) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`peer did not open port ${port}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await once(child, 'exit');
  clearTimeout(timer);
}

const BENCH_LIMITS = { MIDGE_LIMITS__MAX_QUEUED_MESSAGES: '10000000', MIDGE_LIMITS__MAX_QUEUED_BYTES: String(4 * 1024 ** 3) };

export async function startPeer(kind: PeerKind): Promise<RunningPeer> {
  const dir = await makeTempDir(`midge-peer-${kind}-`);
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  if (kind === 'midge-memory' || kind === 'midge-level') {
    const store = kind === 'midge-memory' ? 'memory' : 'level';
    const broker = await spawnBroker(['--port', '0', '--store', store, '--data-dir', dir, '--max-connections', '20000'], 30_000, BENCH_LIMITS);
    return { kind, port: broker.port, pid: broker.child.pid!, stop: async () => (await stopChild(broker.child), await cleanup()) };
  }
  const port = await freePort();
  let child: ChildProcess;
  if (kind === 'mosquitto') {
    const conf = path.join(dir, 'mosquitto.conf');
    // Queues as large as Midge's benchmark setting, so neither drops what the other keeps.
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 32\nlog_type error\n${process.getuid?.() === 0 ? 'user root\n' : ''}`);
    child = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
  } else {
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'aedes-server.mjs');
    child = spawn(process.execPath, [script, String(port)], { stdio: 'ignore' });
  }
  await waitForPort(port, child);
  return { kind, port, pid: child.pid!, stop: async () => (await stopChild(child), await cleanup()) };
}
