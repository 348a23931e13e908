/** The device examples that can run here, against a live Midge. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet } from '../../devices/simulator/fleet.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient, connectCollecting } from '../helpers/clients.js';
import { announceSkip, peers } from '../helpers/peers.js';
import { ROOT } from '../helpers/process.js';

let tb: TestBroker;
beforeAll(async () => {
  tb = await startBroker({ store: { type: 'level' } });
});
afterAll(async () => {
  await closeAllClients();
  await tb.cleanup();
});

describe('fleet simulator', () => {
  it('50 devices publish telemetry with retained online status, obey commands, and leave "offline" behind', async () => {
    const watch = await connectCollecting(tb.url, { clientId: 'fleet-watch' });
    await watch.client.subscribeAsync('devices/#', { qos: 1 });
    const fleet = startFleet({ url: tb.url, devices: 50, intervalMs: 100, qos: 1, prefix: 'sim', maxReadings: 5 });
    await expect.poll(() => fleet.stats.connected, { timeout: 10_000 }).toBe(50);
    // A command changes one device's interval and is acknowledged.
    const commander = await connectClient(tb.url, { clientId: 'commander' });
    await commander.publishAsync('devices/sim-0001/cmd', JSON.stringify({ interval: 50 }), { qos: 1 });
    await fleet.finished;
    await expect.poll(() => watch.collector.messages.some((m) => m.topic === 'devices/sim-0001/ack')).toBe(true);
    const telemetry = watch.collector.messages.filter((m) => m.topic.endsWith('/telemetry'));
    expect(new Set(telemetry.map((m) => m.topic)).size).toBe(50);
    const reading = JSON.parse(telemetry[0]!.payload) as Record<string, unknown>;
    expect(reading).toMatchObject({ id: expect.stringMatching(/^sim-\d{4}$/), temperature: expect.any(Number), humidity: expect.any(Number), battery: expect.any(Number) });
    expect(tb.broker.admin.retained('devices/sim-0042/status')?.payload.toString()).toBe('online');
    await fleet.stop();
    expect(tb.broker.admin.retained('devices/sim-0042/status')?.payload.toString()).toBe('offline');
  });
});

announceSkip(peers.paho, 'the paho-mqtt device example', 'python3-paho-mqtt');

describe.skipIf(!peers.paho)('python paho-mqtt example (needs python3-paho-mqtt)', () => {
  it('publishes readings, answers ping and changes its interval on command', async () => {
    const watch = await connectCollecting(tb.url, { clientId: 'py-watch' });
    await watch.client.subscribeAsync('devices/py-1/#', { qos: 1 });
    const child = spawn('/usr/bin/python3', [path.join(ROOT, 'devices/python/sensor.py'), '--port', String(tb.port), '--id', 'py-1', '--interval', '0.2', '--count', '20'], { stdio: 'pipe' });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(child, 'exit');
    await expect.poll(() => tb.broker.admin.session('py-1')?.subscriptions.size ?? 0, { timeout: 10_000 }).toBe(1);
    const commander = await connectClient(tb.url, { clientId: 'py-commander' });
    await commander.publishAsync('devices/py-1/cmd', 'ping', { qos: 1 });
    await commander.publishAsync('devices/py-1/cmd', JSON.stringify({ interval: 0.05 }), { qos: 1 });
    const [code] = (await exited) as [number];
    expect(code, stderr).toBe(0);
    const topics = watch.collector.messages.map((m) => m.topic);
    expect(topics.filter((t) => t === 'devices/py-1/telemetry')).toHaveLength(20);
    const acks = watch.collector.messages.filter((m) => m.topic === 'devices/py-1/ack').map((m) => m.payload);
    expect(acks).toContain('pong');
    expect(acks.filter((a) => a.startsWith('{')).map((a) => JSON.parse(a) as unknown)).toContainEqual({ interval: 0.05 });
    expect(tb.broker.admin.retained('devices/py-1/status')?.payload.toString()).toBe('offline');
  }, 30_000);
});
