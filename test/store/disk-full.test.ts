/**
 * A full disk, for real: the broker (child process) keeps its store on a 4 MiB tmpfs, and a filler
 * file takes the remaining space. Acknowledgements must be withheld (acknowledged = committed),
 * the condition logged once per episode and shown in /ready, $SYS and /metrics, QoS 0 and reads
 * must keep working, and when space returns the broker must recover by itself — no restart — and
 * still hold everything it had acknowledged (checked across a kill -9 afterwards).
 * Needs root (mount); skipped with a message otherwise.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { freePort } from '../helpers/ports.js';
import { makeTempDir } from '../helpers/temp.js';

const mountPoint = await makeTempDir('midge-diskfull-');

/** Mounts a 4 MiB tmpfs at the temp dir; false (and says why) when this machine does not let us. */
function mountSmallFilesystem(): boolean {
  if (process.getuid?.() !== 0) {
    process.stderr.write('SKIPPED: the disk-full test needs root (it mounts a 4 MiB tmpfs)\n');
    return false;
  }
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint], { stdio: 'pipe' });
    return true;
  } catch (error) {
    process.stderr.write(`SKIPPED: the disk-full test cannot mount a tmpfs here: ${(error as Error).message.split('\n')[0]}\n`);
    return false;
  }
}

const isMounted = mountSmallFilesystem();

/** Writes zeros until the file system is full; returns the file's path. */
function fillUp(dir: string): string {
  const file = path.join(dir, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(16 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return file;
}

function connect(port: number, clientId: string, clean: boolean): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId, clean, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 30_000, keepalive: 120 });
}

async function poll<T>(read: () => Promise<T> | T, isDone: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (isDone(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!isMounted)('disk full (4 MiB tmpfs)', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const fn of cleanup.reverse()) await fn();
    if (isMounted) execFileSync('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('withholds acknowledgements, says so once, serves QoS 0 and reads, and recovers by itself', async () => {
    const dataDir = path.join(mountPoint, 'data');
    mkdirSync(dataDir);
    const httpPort = await freePort();
    const env = { MIDGE_HTTP__ENABLED: 'true', MIDGE_HTTP__PORT: String(httpPort), MIDGE_SYS__INTERVAL: '1' };
    const args = ['--port', '0', '--data-dir', dataDir, '--log-level', 'info'];
    let broker: BrokerProcess = await spawnBroker(args, 60_000, env);
    const stopBroker = async (): Promise<void> => {
      if (broker.child.exitCode === null && broker.child.signalCode === null) {
        broker.child.kill('SIGKILL');
        await broker.exited;
      }
    };
    cleanup.push(stopBroker);
    const port = broker.port;
    const clients: MqttClient[] = [];
    cleanup.push(() => Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined))).then(() => undefined));
    const http = (route: string): Promise<Response> => fetch(`http://127.0.0.1:${httpPort}${route}`);
    const readiness = async (): Promise<{ status: number; body: { status: string; reason?: string } }> => {
      const response = await http('/ready');
      return { status: response.status, body: (await response.json()) as { status: string; reason?: string } };
    };
    const metric = async (name: string): Promise<number> => {
      const text = await (await http('/metrics')).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return Number(line?.split(' ')[1]);
    };

    // A persistent subscriber that is away: what it is owed waits in the store.
    const away = await connect(port, 'df-sub', false);
    await away.subscribeAsync('df/q1', { qos: 1 });
    await away.endAsync();
    // An online clean subscriber for QoS 0 and $SYS.
    const watcher = await connect(port, 'df-watch', true);
    clients.push(watcher);
    const qos0Received: string[] = [];
    let storeState = '';
    watcher.on('message', (topic, payload) => {
      if (topic === '$SYS/broker/store/state') storeState = payload.toString();
      else if (topic === 'df/q0') qos0Received.push(payload.toString());
    });
    await watcher.subscribeAsync({ 'df/q0': { qos: 0 }, '$SYS/broker/store/state': { qos: 0 } });
    const publisher = await connect(port, 'df-pub', false);
    clients.push(publisher);
    await publisher.publishAsync('df/retained', 'kept', { qos: 1, retain: true });

    const payload = Buffer.alloc(2048, 'p');
    const acked: number[] = [];
    const inFlight: Array<Promise<void>> = [];
    const publish = (seq: number): void => {
      inFlight.push(publisher.publishAsync('df/q1', Buffer.concat([Buffer.from(`${seq}:`), payload]), { qos: 1 }).then(() => void acked.push(seq)));
    };
    for (let seq = 0; seq < 50; seq++) publish(seq);
    await Promise.all(inFlight.splice(0));
    expect(acked).toHaveLength(50);
    expect((await readiness()).status).toBe(200);

    const filler = fillUp(mountPoint);
    // Keep publishing until the store reports the episode, then some more.
    let seq = 50;
    await poll(
      async () => {
        for (let i = 0; i < 10; i++) publish(seq++);
        return (await readiness()).status;
      },
      (status) => status === 503,
      'the broker to report the full disk in /ready',
    );
    const ready = await readiness();
    expect(ready.body.reason).toMatch(/^store failing since .*(space|ENOSPC|IO error)/i);
    const ackedAtDetection = acked.length;
    for (let i = 0; i < 100; i++) publish(seq++);
    const sent = seq;

    // $SYS and the metric say so too.
    await poll(() => storeState, (s) => s.startsWith('failing'), '$SYS/broker/store/state to say failing');
    expect(await metric('midge_store_writable')).toBe(0);
    expect(await metric('midge_store_write_failure_episodes_total')).toBe(1);
    // QoS 0 and reads keep working while acknowledgements wait.
    publisher.publish('df/q0', 'still flowing', { qos: 0 });
    await poll(() => qos0Received.length, (n) => n === 1, 'the QoS 0 message during the episode');
    const retainedRead = (await (await http('/api/v1/retained?topic=df/retained')).json()) as Array<{ topic: string }>;
    expect(retainedRead.map((r) => r.topic)).toEqual(['df/retained']);
    expect((await http('/api/v1/clients')).status).toBe(200);
    // Nothing is acknowledged while the disk is full (a write in flight at detection may still land).
    expect(acked.length).toBeLessThanOrEqual(ackedAtDetection + 1);
    expect(acked.length).toBeLessThan(sent);
    expect(publisher.connected).toBe(true);

    // Space returns: the broker notices by itself, no restart.
    rmSync(filler);
    await poll(async () => (await readiness()).status, (status) => status === 200, 'the broker to be ready again', 40_000);
    await Promise.all(inFlight.splice(0));
    expect(acked).toHaveLength(sent);
    await poll(() => storeState, (s) => s === 'ok', '$SYS/broker/store/state back to ok');
    expect(await metric('midge_store_writable')).toBe(1);
    expect(broker.child.exitCode).toBe(null);
    // One episode, one line each way — not one per batch, message or connection.
    const messages = broker.logs.map((l) => String(l.msg));
    expect(messages.filter((m) => m.startsWith('store writes failing'))).toHaveLength(1);
    expect(messages.filter((m) => m.startsWith('store writable again'))).toHaveLength(1);
    expect(messages.filter((m) => m.includes('withheld after a store failure'))).toHaveLength(0);
    const recovered = broker.logs.find((l) => String(l.msg).startsWith('store writable again'));
    process.stdout.write(
      `disk full: /ready said ${JSON.stringify(ready.body)}; ${sent - ackedAtDetection} acknowledgements withheld, ` +
        `sent after ${JSON.stringify({ failedForMs: recovered?.failedForMs, failedAttempts: recovered?.failedAttempts })}\n`,
    );

    // Everything acknowledged is on disk: it survives a kill -9 and reaches the subscriber.
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await stopBroker();
    broker = await spawnBroker(['--port', String(port), '--data-dir', dataDir, '--log-level', 'info'], 60_000, env);
    const received = new Set<number>();
    const subscriber = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'df-sub', clean: false, protocolVersion: 4, reconnectPeriod: 0 });
    clients.push(subscriber);
    subscriber.on('message', (_topic, message) => received.add(Number(message.toString().split(':')[0])));
    await poll(() => received.size, (n) => n >= sent, 'every acknowledged message after the restart');
    expect([...received].sort((a, b) => a - b)).toEqual(Array.from({ length: sent }, (_, i) => i));
  }, 90_000);
});
