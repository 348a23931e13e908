/**
 * `npm run bench -- auth [--quick]`: CONNECT → CONNACK cycles per second through the auth chain,
 * for a JWT (HS256) in the password, an HTTP auth service whose answer is cached, and the built-in
 * user store (PBKDF2, default 1,000 iterations), against no authentication as the baseline. The
 * broker runs in this process (memory store); the clients are raw sockets that send CONNECT, read
 * CONNACK and close, `concurrency` at a time.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { SignJWT } from 'jose';
import mqttPacket from 'mqtt-packet';
import { createBroker, type CreateBrokerOptions } from '../../src/index.js';
import { createLogger } from '../../src/observability/index.js';
import { makeTempDir } from '../helpers/temp.js';

export interface AuthBenchResult {
  mode: string;
  connects: number;
  seconds: number;
  connectsPerSecond: number;
  /**
   * CPU time of this whole process (broker and clients alike) per CONNECT, in µs: on a shared
   * machine it moves much less with load than the wall-clock rate does.
   */
  cpuMicrosPerConnect: number;
  refused: number;
}

const SECRET = 'bench-secret-0123456789abcdefghij';

function connectOnce(port: number, clientId: string, username: string | undefined, password: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet) => {
      socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
      resolve((packet as mqttPacket.IConnackPacket).returnCode ?? -1);
    });
    socket.on('data', (data) => parser.parse(data));
    socket.on('error', reject);
    const connect: mqttPacket.IConnectPacket = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0 };
    if (username !== undefined) connect.username = username;
    if (password !== undefined) connect.password = Buffer.from(password);
    socket.write(mqttPacket.generate(connect));
  });
}

async function measure(mode: string, options: CreateBrokerOptions, credentials: { username?: string; password?: string }, connects: number, concurrency: number, clientIds: number): Promise<AuthBenchResult> {
  const dataDir = await makeTempDir('midge-auth-bench-');
  const broker = createBroker({ port: 0, host: '127.0.0.1', store: { type: 'memory' }, http: { enabled: false }, sys: { interval: 0 }, dataDir, ...options }, { logger: createLogger('silent') });
  await broker.listen();
  const port = broker.address().port;
  if (broker.admin.userStore) await broker.admin.userStore.createUser({ username: credentials.username, password: credentials.password });
  // Warm-up: one CONNECT per client id (fills the HTTP cache, the JWKS or hash caches, JIT).
  for (let i = 0; i < clientIds; i++) await connectOnce(port, `bench-${i}`, credentials.username, credentials.password);
  let next = 0;
  let refused = 0;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < connects) {
        const i = next++;
        if ((await connectOnce(port, `bench-${i % clientIds}`, credentials.username, credentials.password)) !== 0) refused++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await broker.close();
  await rm(dataDir, { recursive: true, force: true });
  if (refused > 0) throw new Error(`auth bench ${mode}: ${refused} CONNECTs refused`);
  return { mode, connects, seconds, connectsPerSecond: connects / seconds, cpuMicrosPerConnect: (cpu.user + cpu.system) / connects, refused };
}

export async function runAuthBench(isQuick: boolean): Promise<AuthBenchResult[]> {
  const connects = isQuick ? 1000 : 5000;
  const concurrency = 20;
  const clientIds = 50;
  const results: AuthBenchResult[] = [];
  results.push(await measure('none (baseline)', {}, {}, connects, concurrency, clientIds));
  const token = await new SignJWT({ sub: 'fleet' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
  results.push(await measure('jwt HS256', { auth: { chain: [{ type: 'jwt', secret: SECRET }] } }, { username: 'fleet', password: token }, connects, concurrency, clientIds));
  const service = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  const servicePort = (service.address() as AddressInfo).port;
  results.push(
    await measure('http (cached answer)', { auth: { chain: [{ type: 'http', url: `http://127.0.0.1:${servicePort}/auth`, cacheTtlMs: 600_000 }] } }, { username: 'car', password: 'pw' }, connects, concurrency, clientIds),
  );
  service.closeAllConnections();
  service.close();
  results.push(await measure('users (PBKDF2 x1000)', { auth: { chain: [{ type: 'users' }] } }, { username: 'dev', password: 'dev-password' }, connects, concurrency, clientIds));
  return results;
}

export interface AuthorizationBenchResult {
  mode: string;
  messages: number;
  seconds: number;
  /** CPU time of this whole process (broker and both clients) per message, in µs. */
  cpuMicrosPerMessage: number;
}

/**
 * Publish-path cost of HTTP authorization once its answers are cached: QoS 1 from one client to
 * one subscriber over 10 topics (publish and receive both checked), against no authorization.
 * Cached answers are synchronous, so the difference is the cache lookups, not any waiting.
 */
export async function runAuthorizationBench(isQuick: boolean): Promise<AuthorizationBenchResult[]> {
  const { default: mqtt } = await import('mqtt');
  const messages = isQuick ? 10_000 : 50_000;
  const service = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}/acl`;
  const modes: Array<[string, CreateBrokerOptions]> = [
    ['none (baseline)', {}],
    ['http authorization (cached)', { auth: { chain: [{ type: 'anonymous' }], authorization: { chain: [{ type: 'http', url, cacheTtlMs: 600_000 }], noMatch: 'deny' } } }],
  ];
  const results: AuthorizationBenchResult[] = [];
  for (const [mode, options] of modes) {
    const dataDir = await makeTempDir('midge-authz-bench-');
    const broker = createBroker({ port: 0, host: '127.0.0.1', store: { type: 'memory' }, http: { enabled: false }, sys: { interval: 0 }, dataDir, ...options }, { logger: createLogger('silent') });
    await broker.listen();
    const brokerUrl = `mqtt://127.0.0.1:${broker.address().port}`;
    const sub = await mqtt.connectAsync(brokerUrl, { clientId: 'bench-sub', reconnectPeriod: 0 });
    const pub = await mqtt.connectAsync(brokerUrl, { clientId: 'bench-pub', reconnectPeriod: 0 });
    let received = 0;
    let onTarget: (() => void) | undefined;
    let target = 0;
    sub.on('message', () => {
      if (++received === target) onTarget?.();
    });
    const receivedAll = (count: number): Promise<void> =>
      new Promise((resolve) => {
        target = count;
        onTarget = resolve;
        if (received >= count) resolve();
      });
    await sub.subscribeAsync('bench/#', { qos: 1 });
    // Warm-up: one message per topic fills the cache (publish and receive) and the JIT.
    for (let t = 0; t < 10; t++) await pub.publishAsync(`bench/${t}`, 'warm', { qos: 1 });
    await receivedAll(10);
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const done = receivedAll(10 + messages);
    const payload = Buffer.alloc(64);
    for (let sent = 0; sent < messages; ) {
      const batch = Math.min(100, messages - sent);
      await Promise.all(Array.from({ length: batch }, (_, i) => pub.publishAsync(`bench/${(sent + i) % 10}`, payload, { qos: 1 })));
      sent += batch;
    }
    await done;
    const cpu = process.cpuUsage(cpuBefore);
    const seconds = (performance.now() - started) / 1000;
    await Promise.all([sub.endAsync(), pub.endAsync()]);
    await broker.close();
    await rm(dataDir, { recursive: true, force: true });
    results.push({ mode, messages, seconds, cpuMicrosPerMessage: (cpu.user + cpu.system) / messages });
  }
  service.closeAllConnections();
  service.close();
  return results;
}
