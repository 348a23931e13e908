/**
 * Real backend servers for the connector tests — RabbitMQ, PostgreSQL 15 and Redis from their
 * Debian packages — each started by the test in its own temp dir on free loopback ports (never
 * the packages' services or default ports), waited for with a timeout and stopped by its PID.
 * A test file starts one instance per server and shares it between its tests.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, rm, writeFile, mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort } from './ports.js';
import { makeTempDir } from './temp.js';

const RABBITMQ_BIN = '/usr/lib/rabbitmq/bin';
const EPMD = '/usr/bin/epmd';
const PG_BIN = '/usr/lib/postgresql/15/bin';
const REDIS_SERVER = '/usr/bin/redis-server';

/** Which servers can be started here, and the Debian package that provides each. */
export const serverPackages = {
  rabbitmq: { isAvailable: existsSync(path.join(RABBITMQ_BIN, 'rabbitmq-server')) && existsSync(EPMD), debianPackage: 'rabbitmq-server' },
  postgres: { isAvailable: existsSync(path.join(PG_BIN, 'postgres')) && hasUser('postgres'), debianPackage: 'postgresql' },
  redis: { isAvailable: existsSync(REDIS_SERVER), debianPackage: 'redis-server' },
};

function hasUser(name: string): boolean {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Polls `probe` until it resolves true, or throws naming `what` after `timeoutMs`. */
export async function waitUntil(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 60_000, everyMs = 150): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${timeoutMs} ms${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (killed, not yet reaped by its parent, e.g. runuser) is gone for our purposes.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`; resolves once it is gone. */
async function stopPid(pid: number | undefined, graceMs = 15_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (pid === undefined || !isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGCONT'); // a stopped (SIGSTOP) process would never handle SIGTERM
    process.kill(pid, signal);
  } catch {
    return;
  }
  try {
    await waitUntil(`pid ${pid} exit`, () => !isAlive(pid), graceMs, 100);
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
    await waitUntil(`pid ${pid} exit after SIGKILL`, () => !isAlive(pid), 10_000, 100);
  }
}

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Sends one inline command and resolves with the first reply line (Redis readiness probe). */
function redisCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.once('error', reject);
    socket.on('data', (d) => {
      reply += d.toString();
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.split('\r\n')[0]!);
      }
    });
    socket.once('connect', () => socket.write(`${command}\r\n`));
  });
}

function spawnLogged(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer): void => {
    output = (output + d.toString()).slice(-8000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('error', (error) => keep(Buffer.from(String(error))));
  return { child, output: () => output };
}

/** A started server: its port and process, with the outage tools the tests need. */
export interface TestServer {
  readonly port: number;
  readonly dir: string;
  /** The server process's PID now (changes across restarts). */
  readonly pid: number;
  /** kill -STOP / kill -CONT: a hang-style outage (the socket stays open, nothing answers). */
  pause(): void;
  resume(): void;
  /** kill -9. */
  crash(): Promise<void>;
  /** Stops it (SIGTERM, waits), keeping its data dir. */
  stopProcess(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops everything and deletes the temp dir. */
  destroy(): Promise<void>;
}

abstract class BaseServer implements TestServer {
  protected serverPid: number | undefined;
  protected output: () => string = () => '';

  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get pid(): number {
    if (this.serverPid === undefined) throw new Error('server not running');
    return this.serverPid;
  }

  pause(): void {
    process.kill(this.pid, 'SIGSTOP');
  }

  resume(): void {
    process.kill(this.pid, 'SIGCONT');
  }

  async crash(): Promise<void> {
    const pid = this.pid;
    process.kill(pid, 'SIGKILL');
    await waitUntil(`pid ${pid} exit`, () => !isAlive(pid), 10_000, 50);
    this.serverPid = undefined;
  }

  /** The signal that stops it promptly (PostgreSQL: SIGINT, its "fast" shutdown). */
  protected stopSignal: NodeJS.Signals = 'SIGTERM';

  async stopProcess(): Promise<void> {
    await stopPid(this.serverPid, 15_000, this.stopSignal);
    this.serverPid = undefined;
  }

  abstract start(): Promise<void>;

  async destroy(): Promise<void> {
    await this.stopProcess();
    await rm(this.dir, { recursive: true, force: true });
  }

  protected failure(what: string, error: unknown): Error {
    return new Error(`${what}: ${(error as Error).message}\n--- server output ---\n${this.output()}`);
  }
}

// --- RabbitMQ -----------------------------------------------------------------------------------

export class RabbitServer extends BaseServer {
  readonly nodeName: string;
  private epmdPid: number | undefined;

  private constructor(
    port: number,
    dir: string,
    private readonly distPort: number,
    private readonly epmdPort: number,
  ) {
    super(port, dir);
    this.nodeName = `midge-it-${process.pid}-${Math.random().toString(36).slice(2, 8)}@localhost`;
  }

  static async create(): Promise<RabbitServer> {
    const dir = await makeTempDir('midge-rabbit-');
    const server = new RabbitServer(await freePort(), dir, await freePort(), await freePort());
    await mkdir(path.join(dir, 'mnesia'));
    await mkdir(path.join(dir, 'log'));
    await writeFile(
      path.join(dir, 'rabbitmq.conf'),
      [`listeners.tcp.default = 127.0.0.1:${server.port}`, 'loopback_users = none', 'log.console = false', 'log.file.level = warning', 'vm_memory_high_watermark.relative = 0.8', 'disk_free_limit.absolute = 1MB', ''].join('\n'),
    );
    // No plugins at all: the management plugin would take port 15672.
    await writeFile(path.join(dir, 'enabled_plugins'), '[].\n');
    await server.start();
    return server;
  }

  /** The environment both the server and rabbitmqctl need (the cookie lives in HOME). */
  get env(): NodeJS.ProcessEnv {
    const d = this.dir;
    return {
      PATH: process.env.PATH,
      HOME: d,
      ERL_EPMD_PORT: String(this.epmdPort),
      ERL_EPMD_ADDRESS: '127.0.0.1',
      RABBITMQ_NODENAME: this.nodeName,
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_MNESIA_BASE: path.join(d, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(d, 'log'),
      RABBITMQ_CONFIG_FILE: path.join(d, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(d, 'enabled_plugins'),
      RABBITMQ_PID_FILE: path.join(d, 'rabbit.pid'),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    };
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.epmdPid === undefined || !isAlive(this.epmdPid)) {
      // Our own epmd on its own port, run in the foreground so we can stop it by PID (the one
      // erl would start is a daemon nobody owns, and the default port 4369 may be taken).
      const epmd = spawnLogged(EPMD, ['-port', String(this.epmdPort), '-address', '127.0.0.1'], this.env, this.dir);
      this.epmdPid = epmd.child.pid;
      await waitUntil('epmd', () => tcpAccepts(this.epmdPort), 20_000);
    }
    await rm(path.join(this.dir, 'rabbit.pid'), { force: true });
    const started = spawnLogged(path.join(RABBITMQ_BIN, 'rabbitmq-server'), [], this.env, this.dir);
    this.output = started.output;
    const pidFile = path.join(this.dir, 'rabbit.pid');
    try {
      await waitUntil(
        'RabbitMQ',
        async () => {
          if (started.child.exitCode !== null) throw new Error(`exited with ${started.child.exitCode}`);
          return existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '' && (await tcpAccepts(this.port));
        },
        90_000,
        250,
      );
    } catch (error) {
      started.child.kill('SIGKILL');
      throw this.failure('RabbitMQ did not start', error);
    }
    this.serverPid = Number(readFileSync(pidFile, 'utf8').trim());
  }

  /** rabbitmqctl against this node (e.g. `close_all_connections`). */
  ctl(...args: string[]): string {
    return execFileSync(path.join(RABBITMQ_BIN, 'rabbitmqctl'), ['-n', this.nodeName, ...args], { env: this.env, cwd: this.dir, timeout: 60_000 }).toString();
  }

  override async destroy(): Promise<void> {
    await this.stopProcess();
    await stopPid(this.epmdPid);
    await rm(this.dir, { recursive: true, force: true });
  }
}

// --- PostgreSQL ---------------------------------------------------------------------------------

export class PostgresServer extends BaseServer {
  private constructor(port: number, dir: string) {
    super(port, dir);
    // SIGTERM is the "smart" shutdown, which waits for every client to leave.
    this.stopSignal = 'SIGINT';
  }

  static async create(): Promise<PostgresServer> {
    const dir = await makeTempDir('midge-pg-');
    // PostgreSQL refuses to run as root: the postgres user owns the dir and runs the server.
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    await chown(dir, uid, gid);
    const server = new PostgresServer(await freePort(), dir);
    execFileSync('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, 'initdb'), '-D', server.dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'], {
      cwd: dir,
      stdio: 'pipe',
      timeout: 120_000,
    });
    await server.start();
    return server;
  }

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    const started = spawnLogged(
      'runuser',
      ['-u', 'postgres', '--', path.join(PG_BIN, 'postgres'), '-D', this.dataDir, '-p', String(this.port), '-k', this.dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off'],
      { PATH: process.env.PATH, LANG: 'C' },
      this.dir,
    );
    this.output = started.output;
    const pidFile = path.join(this.dataDir, 'postmaster.pid');
    try {
      await waitUntil(
        'PostgreSQL',
        async () => {
          if (started.child.exitCode !== null) throw new Error(`exited with ${started.child.exitCode}`);
          if (!existsSync(pidFile)) return false;
          // Line 8 of postmaster.pid is the status: "ready" once it accepts connections.
          const lines = readFileSync(pidFile, 'utf8').split('\n');
          return lines[7]?.trim() === 'ready' && (await tcpAccepts(this.port));
        },
        60_000,
      );
    } catch (error) {
      started.child.kill('SIGKILL');
      throw this.failure('PostgreSQL did not start', error);
    }
    // The postmaster itself, not runuser: signals (STOP, KILL) must reach the server.
    this.serverPid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  }

  override async crash(): Promise<void> {
    // After kill -9 of the postmaster its backends linger until they notice; kill them too.
    const pid = this.pid;
    const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)]).toString().split('\n').map(Number).filter((n) => n > 0);
    await super.crash();
    for (const child of children) {
      try {
        process.kill(child, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    // A killed postmaster leaves its lock files; a real crash recovery would find them stale.
    await rm(path.join(this.dataDir, 'postmaster.pid'), { force: true });
    await rm(path.join(this.dir, `.s.PGSQL.${this.port}.lock`), { force: true });
    await rm(path.join(this.dir, `.s.PGSQL.${this.port}`), { force: true });
  }
}

// --- Redis --------------------------------------------------------------------------------------

export class RedisServer extends BaseServer {
  private constructor(port: number, dir: string) {
    super(port, dir);
  }

  static async create(): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), await makeTempDir('midge-redis-'));
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const started = spawnLogged(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--save', '', '--daemonize', 'no', '--logfile', ''],
      { PATH: process.env.PATH },
      this.dir,
    );
    this.output = started.output;
    try {
      await waitUntil(
        'Redis',
        async () => {
          if (started.child.exitCode !== null) throw new Error(`exited with ${started.child.exitCode}`);
          return (await redisCommand(this.port, 'PING').catch(() => '')) === '+PONG';
        },
        60_000,
      );
    } catch (error) {
      started.child.kill('SIGKILL');
      throw this.failure('Redis did not start', error);
    }
    this.serverPid = started.child.pid!;
  }
}
