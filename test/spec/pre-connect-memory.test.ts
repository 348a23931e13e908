/**
 * Memory exhaustion before CONNECT: a peer that has not authenticated announces a huge packet and
 * starts sending it. The broker runs as a child process so its RSS (/proc/<pid>/status) is its own.
 */
import net from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { makeTempDir } from '../helpers/temp.js';
import { connectClient } from '../helpers/clients.js';

const ATTACKERS = 50;
const ANNOUNCED = 200_000_000;
/** What each attacker actually sends of its announced packet (if the broker lets it). */
const SENT_PER_ATTACKER = 2 * 1024 * 1024;
/**
 * The broker's RSS is read from /proc/<pid>/status (Linux only). Without /proc the test is
 * skipped, and says so on stderr: there is no other honest way to read a child's RSS here.
 */
const hasProc = (() => {
  try {
    readFileSync('/proc/self/status');
    return true;
  } catch {
    process.stderr.write('SKIPPED: the memory-before-CONNECT test needs /proc (Linux) to read the broker\'s RSS\n');
    return false;
  }
})();

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

function remainingLength(length: number): number[] {
  const bytes: number[] = [];
  do {
    let digit = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) digit |= 0x80;
    bytes.push(digit);
  } while (length > 0);
  return bytes;
}

/** Opens a socket, announces a packet of ANNOUNCED bytes with `firstByte`, and sends what the broker takes. */
async function attack(port: number, firstByte: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  // A CONNECT header, protocol name and level, then filler as a huge "client id".
  const header = Buffer.from([firstByte, ...remainingLength(ANNOUNCED), 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c]);
  socket.write(header);
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  for (let sent = 0; sent < SENT_PER_ATTACKER && !socket.destroyed; sent += chunk.length) {
    if (!socket.write(chunk)) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), closed]);
  }
  await closed;
}

describe.skipIf(!hasProc)('memory before CONNECT', () => {
  let broker: BrokerProcess;
  let dir: string;

  beforeAll(async () => {
    dir = await makeTempDir();
    broker = await spawnBroker(['--port', '0', '--data-dir', dir, '--log-level', 'info'], 60_000, { MIDGE_STORE__TYPE: 'memory' });
  }, 70_000);

  afterAll(async () => {
    broker?.child.kill('SIGKILL');
    await broker?.exited;
    await rm(dir, { recursive: true, force: true });
  });

  it(
    `${ATTACKERS} unauthenticated connections each announcing a 200 MB packet leave the RSS within a few MiB [3.1.1 MQTT-3.1.0-1] [5.0 MQTT-3.1.0-1]`,
    async () => {
      const url = `mqtt://127.0.0.1:${broker.port}`;
      // Warm up the paths a connection uses, so the baseline already holds their code.
      for (let i = 0; i < 3; i++) {
        const client = await connectClient(url, { clientId: `warm-${i}` });
        await client.endAsync();
      }
      await Promise.all(Array.from({ length: 10 }, () => attack(broker.port, 0x10)));
      const before = rssKiB(broker.child.pid!);
      // Half announce a CONNECT (refused at its header: larger than limits.maxConnectPacketSize),
      // half announce a PUBLISH as first packet (closed at its first byte).
      await Promise.all(Array.from({ length: ATTACKERS }, (_, i) => attack(broker.port, i % 2 === 0 ? 0x10 : 0x30)));
      const after = rssKiB(broker.child.pid!);
      const grownMiB = (after - before) / 1024;
      process.stderr.write(`pre-connect memory: RSS ${Math.round(before / 1024)} -> ${Math.round(after / 1024)} MiB (${grownMiB.toFixed(1)} MiB)\n`);
      // Buffering what was sent would be ~100 MiB (50 x 2 MiB); allocating what was announced, far more.
      // Alone it grows 1-2 MiB; beside the rest of the suite on 2 cores, the heap's own slack
      // has reached 10 MiB — still a tenth of buffering what was sent.
      expect(grownMiB).toBeLessThan(16);
      // And the broker still serves.
      const client = await connectClient(url, { clientId: 'after-attack' });
      expect(client.connected).toBe(true);
      await client.endAsync();
    },
    90_000,
  );
});
