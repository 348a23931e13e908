/**
 * Side-by-side scenarios against any broker on a port (the benchmark issue's 1–3):
 *  fan-in   20 QoS 0 publishers → 1 subscriber on bench/+/data: delivered/s and % delivered
 *  fan-out  1 QoS 0 publisher → 200 subscribers of one topic: deliveries/s
 *  qos1     10 publishers × 32 in flight → 1 QoS 1 subscriber: messages/s, loss count
 * Each also as messages per broker CPU-second (/proc/<pid>/stat). 64-byte payloads, MQTT 3.1.1.
 */
import { cpuSeconds } from './lib/broker-process.js';
import { LoadClient, PublishTemplate, publishWindowed } from './lib/load-client.js';

const PAYLOAD = Buffer.alloc(64, 0x61);

export interface ScenarioResult {
  rate: number;
  delivered: number;
  expected: number;
  perCpuSecond: number;
}

/** Resolves when `count()` reaches `target`, or has not moved for `idleMs` (QoS 0 may drop). */
function settle(count: () => number, target: number, idleMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    let last = -1;
    let lastMovedAt = Date.now();
    let lastChangeTime = Date.now();
    const timer = setInterval(() => {
      const now = count();
      if (now !== last) {
        last = now;
        lastMovedAt = Date.now();
        lastChangeTime = Date.now();
      }
      if (now >= target || Date.now() - lastMovedAt > idleMs) {
        clearInterval(timer);
        resolve(lastChangeTime);
      }
    }, 20);
  });
}

/** Writes `count` copies of a QoS 0 PUBLISH, in chunks, respecting socket back-pressure. */
async function blast(client: LoadClient, template: PublishTemplate, count: number): Promise<void> {
  const chunk = Buffer.concat(Array.from({ length: 100 }, () => template.bytes));
  for (let sent = 0; sent < count; sent += 100) {
    if (!client.socket.write(count - sent >= 100 ? chunk : chunk.subarray(0, template.bytes.length * (count - sent)))) {
      await new Promise((r) => client.socket.once('drain', r));
    }
  }
}

export async function fanIn(port: number, pid: number, perPublisher: number): Promise<ScenarioResult> {
  let received = 0;
  const { client: sub } = await LoadClient.connect(port, { clientId: 'fanin-sub', onPublish: () => received++ });
  await sub.subscribe('bench/+/data', 0);
  const pubs = await Promise.all(Array.from({ length: 20 }, (_, i) => LoadClient.connect(port, { clientId: `fanin-pub-${i}` })));
  const expected = perPublisher * 20;
  const cpu0 = cpuSeconds(pid);
  const start = Date.now();
  await Promise.all(pubs.map(({ client }, i) => blast(client, new PublishTemplate(`bench/${i}/data`, PAYLOAD, 0), perPublisher)));
  const end = await settle(() => received, expected);
  const cpu = cpuSeconds(pid) - cpu0;
  for (const { client } of pubs) client.destroy();
  sub.destroy();
  return { rate: received / ((end - start) / 1000), delivered: received, expected, perCpuSecond: received / cpu };
}

export async function fanOut(port: number, pid: number, messages: number): Promise<ScenarioResult> {
  let received = 0;
  const subs = await Promise.all(Array.from({ length: 200 }, (_, i) => LoadClient.connect(port, { clientId: `fanout-sub-${i}`, onPublish: () => received++ })));
  await Promise.all(subs.map(({ client }) => client.subscribe('bench/fanout', 0)));
  const { client: pub } = await LoadClient.connect(port, { clientId: 'fanout-pub' });
  const expected = messages * 200;
  const cpu0 = cpuSeconds(pid);
  const start = Date.now();
  await blast(pub, new PublishTemplate('bench/fanout', PAYLOAD, 0), messages);
  const end = await settle(() => received, expected);
  const cpu = cpuSeconds(pid) - cpu0;
  pub.destroy();
  for (const { client } of subs) client.destroy();
  return { rate: received / ((end - start) / 1000), delivered: received, expected, perCpuSecond: received / cpu };
}

export async function qos1EndToEnd(port: number, pid: number, total: number): Promise<ScenarioResult> {
  let received = 0;
  const { client: sub } = await LoadClient.connect(port, { clientId: 'q1-sub', onPublish: () => received++ });
  await sub.subscribe('bench/#', 1);
  const pubs = await Promise.all(Array.from({ length: 10 }, (_, i) => LoadClient.connect(port, { clientId: `q1-pub-${i}` })));
  const cpu0 = cpuSeconds(pid);
  const start = Date.now();
  await Promise.all(pubs.map(({ client }, i) => publishWindowed(client, new PublishTemplate(`bench/${i}`, PAYLOAD, 1), 1, total / 10, 32)));
  const end = await settle(() => received, total, 5000);
  const cpu = cpuSeconds(pid) - cpu0;
  for (const { client } of pubs) client.destroy();
  sub.destroy();
  return { rate: received / ((end - start) / 1000), delivered: received, expected: total, perCpuSecond: received / cpu };
}
