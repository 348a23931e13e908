import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAllClients, connectClient, connectCollecting, MessageCollector } from './helpers/clients.js';
import { runCli, spawnBroker } from './helpers/process.js';
import { makeTempDir } from './helpers/temp.js';

const dirs: string[] = [];
afterEach(async () => {
  await closeAllClients();
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('the midge command', () => {
  it('starts on --port 0, logs one line with the bound address, serves clients, and exits 0 on SIGTERM', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const broker = await spawnBroker(['--port', '0', '--data-dir', path.join(dir, 'data')]);
    const listening = broker.logs.filter((l) => l.msg === 'listening');
    expect(listening).toHaveLength(1);
    expect(listening[0]).toMatchObject({ address: '127.0.0.1' });
    expect(broker.port).toBeGreaterThan(0);

    const url = `mqtt://127.0.0.1:${broker.port}`;
    const sub = await connectClient(url, { clientId: 'cli-sub' });
    const collector = new MessageCollector(sub);
    await sub.subscribeAsync('cli/t', { qos: 1 });
    const pub = await connectClient(url, { clientId: 'cli-pub' });
    await pub.publishAsync('cli/t', 'via the command', { qos: 2 });
    await collector.waitFor(1);

    const closed = new Promise<void>((resolve) => sub.once('close', () => resolve()));
    broker.child.kill('SIGTERM');
    expect(await broker.exited).toEqual({ code: 0, signal: null });
    await closed;
  });

  it('SIGINT also stops it cleanly', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const broker = await spawnBroker(['--port', '0', '--data-dir', dir, '--store', 'memory']);
    broker.child.kill('SIGINT');
    expect((await broker.exited).code).toBe(0);
  });

  it.each([
    [['--port', 'abc'], '--port'],
    [['--port', '70000'], '--port'],
    [['--log-level', 'loud'], '--log-level'],
    [['--store', 'redis'], '--store'],
    [['--bogus'], 'bogus'],
  ])('a bad flag value %j prints one line naming the flag and exits non-zero', async (args, flag) => {
    const result = await runCli(args);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(flag);
  });

  it('a second broker on the same data dir fails with a one-line error', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const first = await spawnBroker(['--port', '0', '--data-dir', dir]);
    const second = await runCli(['--port', '0', '--data-dir', dir]);
    expect(second.code).toBe(1);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toMatch(/locked/);
    first.child.kill('SIGTERM');
    await first.exited;
  });
});

describe('security by default', () => {
  it('refuses to listen beyond loopback without authentication, naming the listener', async () => {
    const result = await runCli(['--host', '0.0.0.0', '--port', '0', '--store', 'memory']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/listeners\[0\]\.host.*allow-anonymous/);
  });

  it('starts on a non-loopback address with --allow-anonymous', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    // Bound to all addresses, but the test only ever connects through loopback.
    const broker = await spawnBroker(['--host', '0.0.0.0', '--port', '0', '--store', 'memory', '--data-dir', dir, '--allow-anonymous']);
    const client = await connectClient(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'anon' });
    expect(client.connected).toBe(true);
    broker.child.kill('SIGTERM');
    expect((await broker.exited).code).toBe(0);
  });
});

describe('lifecycle', () => {
  it('messages acknowledged before SIGTERM are all there after a restart', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    let broker = await spawnBroker(['--port', '0', '--data-dir', dir]);
    let url = `mqtt://127.0.0.1:${broker.port}`;
    const sub = await connectClient(url, { clientId: 'life-sub', clean: false });
    await sub.subscribeAsync('life/t', { qos: 1 });
    await sub.endAsync();
    const pub = await connectClient(url, { clientId: 'life-pub' });
    await Promise.all(Array.from({ length: 200 }, (_, i) => pub.publishAsync('life/t', String(i), { qos: 1 })));
    broker.child.kill('SIGTERM');
    expect((await broker.exited).code).toBe(0);
    expect(broker.logs.some((l) => l.msg === 'stopping')).toBe(true);

    broker = await spawnBroker(['--port', '0', '--data-dir', dir]);
    url = `mqtt://127.0.0.1:${broker.port}`;
    const { collector } = await connectCollecting(url, { clientId: 'life-sub', clean: false });
    const messages = await collector.waitFor(200);
    expect(messages.map((m) => Number(m.payload))).toEqual(Array.from({ length: 200 }, (_, i) => i));
    broker.child.kill('SIGTERM');
    await broker.exited;
  });

  it('SIGHUP reloads the log level from the config file', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const configFile = path.join(dir, 'midge.yaml');
    writeFileSync(configFile, 'logLevel: info\n');
    const broker = await spawnBroker(['--config', configFile, '--port', '0', '--store', 'memory', '--data-dir', dir]);
    writeFileSync(configFile, 'logLevel: debug\n');
    broker.child.kill('SIGHUP');
    await expect.poll(() => broker.logs.some((l) => l.msg === 'configuration reloaded' && l.logLevel === 'debug')).toBe(true);
    // A broken file keeps the running configuration and says why.
    writeFileSync(configFile, 'logLevel: loud\n');
    broker.child.kill('SIGHUP');
    await expect.poll(() => broker.logs.some((l) => l.msg === 'reload failed; keeping the running configuration')).toBe(true);
    broker.child.kill('SIGTERM');
    expect((await broker.exited).code).toBe(0);
  });

  it('logs one line per connect and per disconnect, with id, address, protocol and reason', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const broker = await spawnBroker(['--port', '0', '--store', 'memory', '--data-dir', dir]);
    const client = await connectClient(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'log-me', protocolVersion: 5, password: Buffer.from('s3cret'), username: 'u' });
    await client.endAsync();
    await expect.poll(() => broker.logs.some((l) => l.msg === 'client disconnected')).toBe(true);
    const connected = broker.logs.filter((l) => l.msg === 'client connected');
    const disconnected = broker.logs.filter((l) => l.msg === 'client disconnected');
    expect(connected).toEqual([expect.objectContaining({ clientId: 'log-me', protocol: 5, remoteAddress: expect.stringMatching(/^127\.0\.0\.1:/) })]);
    expect(disconnected).toEqual([expect.objectContaining({ clientId: 'log-me', reason: 'client-disconnect' })]);
    expect(JSON.stringify(broker.logs)).not.toContain('s3cret');
    broker.child.kill('SIGTERM');
    await broker.exited;
  });
});

describe('a second signal', () => {
  it('exits at once while a clean shutdown is still waiting (exit code 1)', async () => {
    const dir = await makeTempDir();
    dirs.push(dir);
    const broker = await spawnBroker(['--port', '0', '--store', 'memory', '--data-dir', dir]);
    // A client that never reads nor closes keeps the clean shutdown waiting on its socket.
    const stubborn = net.connect(broker.port, '127.0.0.1');
    await once(stubborn, 'connect');
    stubborn.write(Buffer.from([0x10, 0x0f, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x00, 0x00, 0x03, 0x73, 0x74, 0x75]));
    stubborn.pause();
    await expect.poll(() => broker.logs.some((l) => l.msg === 'client connected')).toBe(true);
    broker.child.kill('SIGTERM');
    await expect.poll(() => broker.logs.some((l) => l.msg === 'stopping')).toBe(true);
    broker.child.kill('SIGTERM');
    const startedAt = Date.now();
    expect((await broker.exited).code).toBe(1);
    expect(Date.now() - startedAt).toBeLessThan(1500);
    expect(broker.logs.some((l) => l.msg === 'second signal: exiting at once')).toBe(true);
    stubborn.destroy();
  });
});
