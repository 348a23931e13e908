/**
 * Fuzzing through real sockets: seeded random, truncated, mutated, oversize and out-of-order
 * packets from many connections at once, while a well-behaved publisher and subscriber keep
 * working. The broker runs in-process (level store) so the test can force a GC and compare the
 * heap with its baseline; an uncaught exception anywhere fails the run.
 * Inputs that ever broke something live in fuzz-corpus.ts and are replayed first.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { closeAllClients, connectClient } from '../helpers/clients.js';
import { REGRESSION_CORPUS } from './fuzz-corpus.js';
import { abusiveStream, sendAndClose } from '../helpers/fuzz-input.js';
import { prng } from '../helpers/prng.js';

const DURATION_MS = Number(process.env.MIDGE_FUZZ_MS ?? 20_000);
const PARALLEL = 16;

/** A real GC on demand, so heap figures compare live objects, not allocator slack. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

describe('fuzzing over real sockets', () => {
  let tb: TestBroker | undefined;
  afterAll(async () => {
    await closeAllClients();
    await tb?.cleanup();
  });

  it('never crashes, keeps serving a well-behaved client, and returns to its memory baseline', async () => {
    tb = await startBroker({ store: { type: 'level' }, limits: { maxPacketSize: 65536 } });
    const port = tb.port;
    // The good subscriber keeps counts, not messages, so the heap figures below are the broker's.
    let warmReceived = 0;
    let goodReceived = 0;
    let isGoodInOrder = true;
    const subscriber = await connectClient(tb.url, { clientId: 'good-sub' });
    subscriber.on('message', (topic, payload) => {
      if (topic !== 'good/t') {
        warmReceived++;
        return;
      }
      if (Number(payload.toString()) !== goodReceived) isGoodInOrder = false;
      goodReceived++;
    });
    await subscriber.subscribeAsync('good/#', { qos: 1 });
    const publisher = await connectClient(tb.url, { clientId: 'good-pub' });
    // Warm up, then take the baseline.
    for (let i = 0; i < 200; i++) await publisher.publishAsync('good/warm', String(i), { qos: 1 });
    await expect.poll(() => warmReceived).toBe(200);
    collectGarbage();
    const baseline = process.memoryUsage().heapUsed;

    for (const hex of REGRESSION_CORPUS) await sendAndClose(port, [Buffer.from(hex, 'hex')]);

    const seed = Number(process.env.MIDGE_FUZZ_SEED ?? 424242);
    const random = prng(seed);
    let connections = 0;
    let chunks = 0;
    let goodSent = 0;
    const deadline = Date.now() + DURATION_MS;
    const goodPublishing = (async () => {
      while (Date.now() < deadline) {
        await publisher.publishAsync('good/t', String(goodSent++), { qos: 1 });
      }
    })();
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (Date.now() < deadline) {
          const sent = await sendAndClose(port, abusiveStream(random));
          chunks += sent;
          connections++;
        }
      }),
    );
    await goodPublishing;
    await expect.poll(() => goodReceived, { timeout: 10_000 }).toBe(goodSent);
    expect(isGoodInOrder).toBe(true);

    // Every abusive connection is gone, and so is what it held.
    await expect.poll(() => tb!.broker.admin.connectionCount).toBe(2);
    collectGarbage();
    const after = process.memoryUsage().heapUsed;
    process.stdout.write(
      `fuzz (seed ${seed}): ${connections} abusive connections, ${chunks} packets/fragments in ${DURATION_MS} ms; ` +
        `good client: ${goodSent} QoS 1 messages, all delivered in order; heap ${(baseline / 2 ** 20).toFixed(1)} MiB → ${(after / 2 ** 20).toFixed(1)} MiB; ` +
        `sessions left ${tb.broker.admin.sessionCount}, protocol violations seen ${tb.broker.admin.stats.protocolViolations}\n`,
    );
    expect(connections).toBeGreaterThan(1000);
    // Persistent sessions a mutated CONNECT may legitimately create hold a little state; a leak
    // per connection (tens of thousands of them) would be far above this.
    expect(after - baseline).toBeLessThan(16 * 2 ** 20);
  }, DURATION_MS + 60_000);
});
