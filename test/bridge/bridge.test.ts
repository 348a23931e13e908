/**
 * Bridges: forwarding both ways, loop prevention, and store-and-forward across a remote outage
 * (10,000 QoS 1 readings, in order) — also across a Midge restart — against a second Midge and a
 * real Mosquitto.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BridgeConfig } from '../../src/config/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient, connectCollecting } from '../helpers/clients.js';
import { announceSkip, peers } from '../helpers/peers.js';
import { makeTempDir } from '../helpers/temp.js';
import { freePort } from '../helpers/ports.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await closeAllClients();
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
});

async function tempDir(): Promise<string> {
  const dir = await makeTempDir('midge-bridge-');
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function broker(options: Parameters<typeof startBroker>[0]): Promise<TestBroker> {
  const tb = await startBroker(options);
  cleanups.push(() => tb.stop());
  return tb;
}

function bridgeTo(port: number, topics: BridgeConfig['topics'], protocolVersion: 4 | 5 = 5): BridgeConfig {
  return {
    name: 'cloud',
    url: `mqtt://127.0.0.1:${port}`,
    clientId: 'gw-1',
    protocolVersion,
    keepalive: 30,
    cleanSession: false,
    rejectUnauthorized: true,
    topics,
    reconnectMinMs: 50,
    reconnectMaxMs: 500,
  };
}

const RULES: BridgeConfig['topics'] = [
  { pattern: 'sensors/#', direction: 'out', qos: 1, localPrefix: '', remotePrefix: 'site-1/' },
  { pattern: 'cmd/#', direction: 'in', qos: 1, localPrefix: '', remotePrefix: '' },
  { pattern: 'sync/#', direction: 'both', qos: 1, localPrefix: '', remotePrefix: '' },
];

/** Publishes `count` QoS 1 readings numbered 0.., 100 in flight, all acknowledged by `url`. */
async function publishReadings(url: string, count: number, topic = 'sensors/t1'): Promise<void> {
  const pub = await connectClient(url, { clientId: `reader-${Date.now()}` });
  for (let i = 0; i < count; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => pub.publishAsync(topic, String(i + j), { qos: 1 })));
  }
  await pub.endAsync();
}

describe('bridge between two Midge brokers', () => {
  it('forwards out with the remote prefix and in, publishes its state in $SYS, and does not echo "both" topics', async () => {
    const cloud = await broker({ dataDir: await tempDir() });
    const local = await broker({ dataDir: await tempDir(), store: { type: 'level' }, bridges: [bridgeTo(cloud.port, RULES)] });
    await expect.poll(() => local.broker.admin.retained('$SYS/broker/connection/cloud/state')?.payload.toString()).toBe('1');

    const cloudSub = await connectCollecting(cloud.url, { clientId: 'cloud-sub' });
    await cloudSub.client.subscribeAsync(['site-1/sensors/#', 'sync/#'], { qos: 1 });
    const localSub = await connectCollecting(local.url, { clientId: 'local-sub' });
    await localSub.client.subscribeAsync(['cmd/#', 'sync/#'], { qos: 1 });
    // The bridge's remote subscription must be in place before the cloud publishes.
    await expect.poll(() => cloud.broker.admin.session('gw-1')?.subscriptions.size).toBe(2);

    const localPub = await connectClient(local.url, { clientId: 'local-pub' });
    await localPub.publishAsync('sensors/t1', '21.5', { qos: 1 });
    await localPub.publishAsync('sync/x', 'from-local', { qos: 1 });
    const cloudPub = await connectClient(cloud.url, { clientId: 'cloud-pub' });
    await cloudPub.publishAsync('cmd/led', 'on', { qos: 1 });
    await cloudPub.publishAsync('sync/y', 'from-cloud', { qos: 1 });

    await expect.poll(() => cloudSub.collector.messages.map((m) => `${m.topic}=${m.payload}`).sort()).toEqual(['site-1/sensors/t1=21.5', 'sync/x=from-local', 'sync/y=from-cloud']);
    await expect.poll(() => localSub.collector.messages.map((m) => `${m.topic}=${m.payload}`).sort()).toEqual(['cmd/led=on', 'sync/x=from-local', 'sync/y=from-cloud']);
    // No echo: once more round the loop would have doubled these; give it the time of a round trip.
    await localPub.publishAsync('sensors/marker', 'm', { qos: 1 });
    await expect.poll(() => cloudSub.collector.messages.some((m) => m.topic === 'site-1/sensors/marker')).toBe(true);
    expect(cloudSub.collector.messages.filter((m) => m.topic.startsWith('sync/'))).toHaveLength(2);
    expect(localSub.collector.messages.filter((m) => m.topic.startsWith('sync/'))).toHaveLength(2);
  });

  it('store-and-forward: 10,000 QoS 1 readings published while the remote is down (and Midge restarts) all arrive, in order, once', async () => {
    const cloudDir = await tempDir();
    const localDir = await tempDir();
    let cloud = await broker({ dataDir: cloudDir, store: { type: 'level' } });
    const cloudPort = cloud.port;
    const config = { dataDir: localDir, store: { type: 'level' as const }, bridges: [bridgeTo(cloudPort, RULES)] };
    let local = await broker(config);
    // A persistent subscriber on the cloud side, away during the outage.
    const cloudSub = await connectClient(cloud.url, { clientId: 'cloud-sub', clean: false });
    await cloudSub.subscribeAsync('site-1/sensors/#', { qos: 1 });
    await cloudSub.endAsync();
    await expect.poll(() => local.broker.admin.retained('$SYS/broker/connection/cloud/state')?.payload.toString()).toBe('1');

    await cloud.stop();
    await expect.poll(() => local.broker.admin.retained('$SYS/broker/connection/cloud/state')?.payload.toString()).toBe('0');
    await publishReadings(local.url, 6000);
    // Midge restarts while the remote is still down: the stored queue must survive.
    await local.stop();
    local = await broker(config);
    await publishReadings(local.url, 4000, 'sensors/t2');
    expect(local.broker.admin.session('$bridge/cloud')!.queuedCount).toBeGreaterThan(0);

    cloud = await broker({ dataDir: cloudDir, store: { type: 'level' }, port: cloudPort });
    const { collector } = await connectCollecting(cloud.url, { clientId: 'cloud-sub', clean: false });
    await expect.poll(() => collector.messages.length, { timeout: 30_000, interval: 200 }).toBeGreaterThanOrEqual(10_000);
    const t1 = collector.messages.filter((m) => m.topic === 'site-1/sensors/t1').map((m) => Number(m.payload));
    const t2 = collector.messages.filter((m) => m.topic === 'site-1/sensors/t2').map((m) => Number(m.payload));
    expect(t1).toEqual(Array.from({ length: 6000 }, (_, i) => i));
    expect(t2).toEqual(Array.from({ length: 4000 }, (_, i) => i));
    expect(local.broker.admin.session('$bridge/cloud')!.queuedCount).toBe(0);
  }, 90_000);
});

announceSkip(peers.mosquitto, 'bridging to a real Mosquitto', 'mosquitto');

describe.skipIf(!peers.mosquitto)('bridge to a real Mosquitto (needs the mosquitto package)', () => {
  async function startMosquitto(port: number, dir: string): Promise<ChildProcess> {
    const conf = path.join(dir, 'mosquitto.conf');
    // Run as root, Mosquitto drops to the 'mosquitto' user, which cannot write our temp dir.
    const asRoot = process.getuid?.() === 0 ? 'user root\n' : '';
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location ${dir}/\nmax_queued_messages 0\nlog_type error\n${asRoot}`);
    const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: 'ignore' });
    // Ready when the port accepts a connection.
    for (let i = 0; i < 100; i++) {
      const isOpen = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (isOpen) return child;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    throw new Error('mosquitto did not start');
  }

  async function stopMosquitto(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  }

  it('forwards both ways, then 10,000 readings across a Mosquitto outage arrive in order', async () => {
    const dir = await tempDir();
    const port = await freePort();
    let mosquitto = await startMosquitto(port, dir);
    cleanups.push(() => stopMosquitto(mosquitto));
    const url = `mqtt://127.0.0.1:${port}`;
    const local = await broker({ dataDir: await tempDir(), store: { type: 'level' }, bridges: [bridgeTo(port, RULES, 4)] });
    await expect.poll(() => local.broker.admin.retained('$SYS/broker/connection/cloud/state')?.payload.toString()).toBe('1');

    const remoteSub = await connectCollecting(url, { clientId: 'mq-sub', clean: false });
    await remoteSub.client.subscribeAsync('site-1/sensors/#', { qos: 1 });
    const localSub = await connectCollecting(local.url, { clientId: 'mq-local-sub' });
    await localSub.client.subscribeAsync('cmd/#', { qos: 1 });
    const remotePub = await connectClient(url, { clientId: 'mq-pub' });
    // The bridge subscribed on connect; Mosquitto has no API to see it, so retry until it flows.
    await expect
      .poll(async () => {
        await remotePub.publishAsync('cmd/ping', 'p', { qos: 1 });
        return localSub.collector.messages.length;
      })
      .toBeGreaterThan(0);
    await publishReadings(local.url, 10, 'sensors/warm');
    await expect.poll(() => remoteSub.collector.messages.length).toBe(10);
    await remoteSub.client.endAsync();
    await remotePub.endAsync();

    await stopMosquitto(mosquitto);
    await expect.poll(() => local.broker.admin.retained('$SYS/broker/connection/cloud/state')?.payload.toString()).toBe('0');
    await publishReadings(local.url, 10_000);
    mosquitto = await startMosquitto(port, dir);
    const back = await connectCollecting(url, { clientId: 'mq-sub', clean: false });
    await expect.poll(() => back.collector.messages.filter((m) => m.topic === 'site-1/sensors/t1').length, { timeout: 30_000, interval: 200 }).toBe(10_000);
    const readings = back.collector.messages.filter((m) => m.topic === 'site-1/sensors/t1').map((m) => Number(m.payload));
    expect(readings).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
  }, 90_000);
});

describe('bridge observability', () => {
  it('shows in /metrics and the admin API', async () => {
    const cloud = await broker({ dataDir: await tempDir() });
    const local = await broker({
      dataDir: await tempDir(),
      bridges: [bridgeTo(cloud.port, RULES)],
      http: { enabled: true, host: '127.0.0.1', port: 0, token: null },
    });
    const base = `http://127.0.0.1:${local.broker.httpBoundAddress!.port}`;
    await expect.poll(async () => (await (await fetch(`${base}/metrics`)).text()).includes('midge_bridge_connected{bridge="cloud"} 1')).toBe(true);
    const bridges = (await (await fetch(`${base}/api/v1/bridges`)).json()) as Array<Record<string, unknown>>;
    expect(bridges).toEqual([expect.objectContaining({ name: 'cloud', isConnected: true, queued: 0 })]);
  });
});
