/**
 * Durable queues with the broker as a child process (the built CLI, level store in a temp dir):
 * SIGKILLed mid-stream and restarted, every PUBACKed message reaches a consumer (the queue's
 * record is committed before the publisher's PUBACK); and 100,000 messages queued with no
 * consumer grow the broker's RSS by less than 64 MiB (they wait in the store and in a compact
 * in-memory queue, not as copies per consumer).
 */
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeAllClients, connectCollecting } from '../helpers/clients.js';
import { freePort } from '../helpers/ports.js';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { makeTempDir } from '../helpers/temp.js';
import { connectPublisher, publishNumbered } from '../connectors/helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(closeAllClients);
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
});

/**
 * The broker's RSS is read from /proc/<pid>/status (Linux only). Without /proc the test is
 * skipped, and says so on stderr: there is no other honest way to read a child's RSS here.
 */
const hasProc = (() => {
  try {
    readFileSync('/proc/self/status');
    return true;
  } catch {
    process.stderr.write('SKIPPED: the 100,000-queued RSS test needs /proc (Linux) to read the broker\'s RSS\n');
    return false;
  }
})();

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

async function startWith(queues: unknown[], extra: Record<string, unknown> = {}): Promise<{ args: string[]; port: number; broker: BrokerProcess; restart(): Promise<BrokerProcess> }> {
  const dir = await makeTempDir('midge-queue-proc-');
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'midge.yaml');
  await writeFile(configFile, JSON.stringify({ queues, ...extra }));
  const port = await freePort();
  const args = ['--port', String(port), '--data-dir', path.join(dir, 'data'), '--config', configFile, '--log-level', 'info'];
  const handle = {
    args,
    port,
    broker: await spawnBroker(args, 60_000),
    async restart(): Promise<BrokerProcess> {
      handle.broker = await spawnBroker(args, 60_000);
      return handle.broker;
    },
  };
  cleanups.push(async () => {
    handle.broker.child.kill('SIGKILL');
    await handle.broker.exited;
  });
  return handle;
}

describe('durable queues in a broker process', () => {
  it('SIGKILLed mid-stream and restarted: every PUBACKed message reaches a consumer', async () => {
    const h = await startWith([{ name: 'orders', topics: ['orders/#'] }]);
    const url = `mqtt://127.0.0.1:${h.port}`;
    const received = new Set<number>();
    // A consumer that takes messages and never acknowledges them (MQTT.js PUBACKs only after
    // handleMessage calls back): at the kill the queue holds messages sent and unacknowledged,
    // besides those waiting for a consumer with room.
    const hoarder = await mqtt.connectAsync(url, { clientId: 'orders-hoarder', reconnectPeriod: 0, protocolVersion: 5 });
    hoarder.on('error', () => undefined);
    let hoarded = 0;
    hoarder.handleMessage = () => {
      hoarded++;
    };
    await hoarder.subscribeAsync('$queue/orders', { qos: 1 });
    const publisher = await connectPublisher(url, 'orders-pub');
    publisher.on('error', () => undefined);
    let ackedSoFar = 0;
    let ackedBeforeKill: Map<string, number[]> | undefined;
    const halfway = new Promise<void>((resolve) => {
      void publishNumbered(publisher, {
        count: 4000,
        topics: ['orders/a', 'orders/b'],
        onAcked: () => {
          if (++ackedSoFar === 1500) resolve();
        },
      }).then((acked) => (ackedBeforeKill = acked));
    });
    await halfway;
    h.broker.child.kill('SIGKILL');
    await h.broker.exited;
    publisher.end(true);
    await expect.poll(() => ackedBeforeKill !== undefined, { timeout: 20_000 }).toBe(true);
    hoarder.end(true);
    const acked = [...ackedBeforeKill!.values()].flat();
    expect(hoarded).toBeGreaterThan(0);

    await h.restart();
    const { client: again } = await connectCollecting(url, { clientId: 'orders-worker-2', protocolVersion: 5 });
    again.on('message', (_topic, payload) => received.add(Number(payload.toString())));
    await again.subscribeAsync('$queue/orders', { qos: 1 });
    await expect.poll(() => acked.filter((n) => !received.has(n)).length, { timeout: 60_000, interval: 200 }).toBe(0);
    process.stdout.write(`queue crash: acked ${acked.length}, held unacknowledged by the hoarder ${hoarded}, consumed after the restart ${received.size}\n`);
    expect(acked.length).toBeGreaterThanOrEqual(1500);
  }, 120_000);

  it('SIGKILLed while a consumer holds a message: its delivery still counts towards maxDeliveries after the restart', async () => {
    const h = await startWith([{ name: 'jobs', topics: ['jobs/#'], maxDeliveries: 2 }]);
    const url = `mqtt://127.0.0.1:${h.port}`;
    const publisher = await connectPublisher(url, 'count-pub');
    await publisher.publishAsync('jobs/poison', 'p', { qos: 1 });
    const holdOne = async (clientId: string): Promise<mqtt.MqttClient> => {
      const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, protocolVersion: 5 });
      client.on('error', () => undefined);
      let held = 0;
      client.handleMessage = () => void held++; // never calls back: no PUBACK
      await client.subscribeAsync('$queue/jobs', { qos: 1 });
      await expect.poll(() => held).toBe(1);
      return client;
    };
    const first = await holdOne('count-hoarder-1');
    // A PUBACK comes after the commit of everything added before it: the delivery count written
    // when the message went to the hoarder is on disk once this one is acknowledged.
    await publisher.publishAsync('elsewhere', 'barrier', { qos: 1 });
    h.broker.child.kill('SIGKILL');
    await h.broker.exited;
    first.end(true);
    publisher.end(true);

    await h.restart();
    const { client: watcher, collector: dead } = await connectCollecting(url, { clientId: 'count-dlq', protocolVersion: 5 });
    await watcher.subscribeAsync('$dlq/jobs', { qos: 1 });
    const second = await holdOne('count-hoarder-2');
    second.stream.destroy();
    // The second delivery is the last: before the count was kept on the record, the crash reset it to 0.
    const [letter] = await dead.waitFor(1, 20_000);
    expect(letter!.packet.properties?.userProperties).toMatchObject({ reason: 'max-deliveries', deliveries: '2', topic: 'jobs/poison' });
  }, 120_000);

  it.skipIf(!hasProc)('100,000 queued with no consumer grow the RSS by less than 64 MiB', async () => {
    const h = await startWith(
      [
        { name: 'big', topics: ['big/#'], maxMessages: 200_000 },
        { name: 'warm', topics: ['warm/#'] },
      ],
      { sys: { interval: 1 } },
    );
    const url = `mqtt://127.0.0.1:${h.port}`;
    const pid = h.broker.child.pid!;
    const publisher = await connectPublisher(url, 'big-pub');
    const payload = (n: number): string => String(n).padStart(64, '.');
    // Warm the publish, store and queue paths (and the heap's working set under load) through a
    // queue with a consumer, then take the baseline: what grows after it is the queued messages.
    const warmConsumer = await mqtt.connectAsync(url, { clientId: 'warm-worker', reconnectPeriod: 0, protocolVersion: 5 });
    let warmed = 0;
    warmConsumer.on('message', () => warmed++);
    await warmConsumer.subscribeAsync('$queue/warm', { qos: 1 });
    await publishNumbered(publisher, { count: 20_000, topics: ['warm/x'], payload });
    await expect.poll(() => warmed, { timeout: 60_000 }).toBe(20_000);
    await warmConsumer.endAsync();
    const before = rssKiB(pid);
    await publishNumbered(publisher, { count: 100_000, topics: ['big/a', 'big/b'], payload });
    const { client: sys, collector } = await connectCollecting(url, { clientId: 'big-sys', protocolVersion: 5 });
    await sys.subscribeAsync('$SYS/broker/queue/big/depth');
    await expect.poll(() => collector.messages.at(-1)?.payload, { timeout: 30_000 }).toBe('100000');
    const after = rssKiB(pid);
    const grownMiB = (after - before) / 1024;
    process.stdout.write(`queue memory: RSS ${Math.round(before / 1024)} -> ${Math.round(after / 1024)} MiB with 100,000 queued (${grownMiB.toFixed(1)} MiB)\n`);
    expect(grownMiB).toBeLessThan(64);
    await publisher.endAsync();
    // And they are all there for a consumer (counted, not collected, to keep the test's own memory small).
    const consumer = await mqtt.connectAsync(url, { clientId: 'big-worker', reconnectPeriod: 0, protocolVersion: 5 });
    let consumed = 0;
    consumer.on('message', () => consumed++);
    await consumer.subscribeAsync('$queue/big', { qos: 1 });
    await expect.poll(() => consumed, { timeout: 120_000, interval: 500 }).toBe(100_000);
    await consumer.endAsync();
  }, 240_000);
});
