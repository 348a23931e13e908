/**
 * Three real nats-server processes with JetStream, clustered on free loopback ports with temp
 * store dirs, for the cluster tests. Started and stopped by PID; never the Debian service.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/temp.js';

export const NATS_SERVER = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => existsSync(p));
/** Tests skip (with this line on stderr) when the Debian package is absent. */
export function skipMessage(file: string): string | undefined {
  if (NATS_SERVER) return undefined;
  const line = `SKIPPED: ${file} needs the Debian package nats-server (apt-get install nats-server)`;
  process.stderr.write(line + '\n');
  return line;
}

export interface EngineServer {
  name: string;
  clientPort: number;
  clusterPort: number;
  httpPort: number;
  storeDir: string;
  configFile: string;
  child: ChildProcess | undefined;
  url: string;
  /** The last lines the server wrote to stderr (kept after it exits, for error messages). */
  logTail?: string;
}

export interface Engine {
  servers: EngineServer[];
  urls: string[];
  /** SIGKILLs one server (by PID). */
  kill(index: number): Promise<void>;
  /** Starts a stopped server again with the same ports and store. */
  restart(index: number): Promise<void>;
  /** The index of the server that leads the stream's RAFT group, from /jsz. */
  streamLeader(stream: string): Promise<number | undefined>;
  waitHealthy(indexes?: number[]): Promise<void>;
  stop(): Promise<void>;
}

async function httpJson(port: number, pathAndQuery: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`, { signal: AbortSignal.timeout(2000) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: response.status, body };
}

function startServer(server: EngineServer): void {
  const child = spawn(NATS_SERVER!, ['-c', server.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  server.logTail = '';
  child.stderr!.on('data', (d: Buffer) => {
    server.logTail = (server.logTail + d.toString()).slice(-4000);
  });
  child.on('exit', () => {
    if (server.child === child) server.child = undefined;
  });
  server.child = child;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`engine: ${what} not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A server that exited while the engine starts: its ports come from `freePort`, which another
 * test's process (a listener on port 0 takes any free port) can take before nats-server binds
 * them. The engine is then started again on new ports instead of waiting out the timeout.
 */
class EngineStartExit extends Error {}
const START_ATTEMPTS = 3;

export async function startEngine(size = 3): Promise<Engine> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEngineOnce(size);
    } catch (error) {
      if (!(error instanceof EngineStartExit) || attempt >= START_ATTEMPTS) throw error;
      process.stderr.write(`engine: ${error.message}; starting again on new ports (attempt ${attempt + 1} of ${START_ATTEMPTS})\n`);
    }
  }
}

async function startEngineOnce(size: number): Promise<Engine> {
  const base = await makeTempDir('midge-nats-');
  const servers: EngineServer[] = [];
  for (let i = 0; i < size; i++) {
    const server: EngineServer = {
      name: `e${i + 1}`,
      clientPort: await freePort(),
      clusterPort: await freePort(),
      httpPort: await freePort(),
      storeDir: path.join(base, `e${i + 1}`),
      configFile: path.join(base, `e${i + 1}.conf`),
      child: undefined,
      url: '',
    };
    server.url = `nats://127.0.0.1:${server.clientPort}`;
    servers.push(server);
  }
  for (const server of servers) {
    const routes = servers.filter((s) => s !== server).map((s) => `nats-route://127.0.0.1:${s.clusterPort}`);
    await writeFile(
      server.configFile,
      [
        `server_name: ${server.name}`,
        `listen: 127.0.0.1:${server.clientPort}`,
        `http: 127.0.0.1:${server.httpPort}`,
        `jetstream { store_dir: "${server.storeDir}" }`,
        `cluster { name: midge-test, listen: 127.0.0.1:${server.clusterPort}, routes: [${routes.join(', ')}] }`,
      ].join('\n'),
    );
  }
  for (const server of servers) startServer(server);

  const healthy = async (server: EngineServer): Promise<boolean> => {
    const health = await httpJson(server.httpPort, '/healthz?js-enabled-only=true');
    if (health.status !== 200) return false;
    const jsz = (await httpJson(server.httpPort, '/jsz')).body as { meta_cluster?: { leader?: string } };
    return Boolean(jsz.meta_cluster?.leader);
  };
  const engine: Engine = {
    servers,
    urls: servers.map((s) => s.url),
    async waitHealthy(indexes = servers.map((_, i) => i)) {
      await Promise.all(indexes.map((i) => waitFor(`${servers[i]!.name} healthy with a meta leader`, () => healthy(servers[i]!))));
    },
    async kill(index) {
      const child = servers[index]!.child;
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid!, 'SIGKILL');
      await exited;
    },
    async restart(index) {
      startServer(servers[index]!);
      await waitFor(`${servers[index]!.name} answering`, async () => (await httpJson(servers[index]!.httpPort, '/healthz?js-enabled-only=true')).status === 200);
    },
    async streamLeader(stream) {
      for (let i = 0; i < servers.length; i++) {
        if (!servers[i]!.child) continue;
        try {
          const jsz = (await httpJson(servers[i]!.httpPort, '/jsz?streams=true')).body as {
            account_details?: Array<{ stream_detail?: Array<{ name: string; cluster?: { leader?: string } }> }>;
          };
          for (const account of jsz.account_details ?? []) {
            for (const detail of account.stream_detail ?? []) {
              if (detail.name === stream && detail.cluster?.leader) return servers.findIndex((s) => s.name === detail.cluster!.leader);
            }
          }
        } catch {
          /* try the next */
        }
      }
      return undefined;
    },
    async stop() {
      await Promise.all(servers.map((_, i) => engine.kill(i)));
      await rm(base, { recursive: true, force: true });
    },
  };
  try {
    const exited = new Promise<never>((_, reject) => {
      for (const server of servers) {
        server.child?.once('exit', (code, signal) => reject(new EngineStartExit(`${server.name} exited during start (${signal ?? code}): ${server.logTail!.trim().split('\n').slice(-3).join(' | ')}`)));
      }
    });
    exited.catch(() => {});
    await Promise.race([engine.waitHealthy(), exited]);
  } catch (error) {
    await engine.stop();
    if (error instanceof Error && !(error instanceof EngineStartExit)) {
      error.message += ` — server logs: ${servers.map((s) => `${s.name}: ${(s.logTail ?? '').trim().split('\n').slice(-2).join(' | ')}`).join('; ')}`;
    }
    throw error;
  }
  return engine;
}

/** Whether a nats-server version check runs (for the skip message). */
export function natsServerVersion(): string | undefined {
  if (!NATS_SERVER) return undefined;
  return spawnSync(NATS_SERVER, ['--version']).stdout.toString().trim();
}
