/**
 * The dead letters of a connector are kept for replay too: a message the HTTP backend refused as
 * bad data goes to `$dlq/<connector>`; once the backend accepts it, POST /api/v1/dlq/<name>/replay
 * puts it back into the connector's session and it reaches the backend on its original topic.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeAllClients } from '../helpers/clients.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectPublisher, FakeHttpBackend } from '../connectors/helpers.js';

const fake = new FakeHttpBackend();
let tb: TestBroker | undefined;
afterEach(closeAllClients);
afterAll(async () => {
  await tb?.cleanup();
  await fake.stop();
});

describe('connector dead letters and replay', () => {
  it('a refused message is kept in $dlq/<name> and replayed into the connector once the backend accepts it', async () => {
    const url = await fake.start();
    let isRefusing = true;
    fake.script = (request) => (isRefusing && request.body.includes('"payload":"odd"') ? { status: 422 } : { status: 200 });
    tb = await startBroker({
      store: { type: 'level' },
      http: { enabled: true, host: '127.0.0.1', port: 0 },
      connectors: [{ name: 'hook', type: 'http', url, sink: { topics: ['dev/#'] }, delivery: { batchSize: 1, inflight: 1, maxWaitMs: 0, deadLetterAfterAttempts: 1, retryMinMs: 10, retryMaxMs: 50 } }],
    });
    const api = `http://127.0.0.1:${tb.broker.httpBoundAddress!.port}`;
    const publisher = await connectPublisher(tb.url, 'replay-pub');
    await publisher.publishAsync('dev/1/data', 'even', { qos: 1 });
    await publisher.publishAsync('dev/1/data', 'odd', { qos: 1 });
    await expect.poll(async () => ((await fetch(`${api}/api/v1/connectors/hook`).then((r) => r.json())) as { deadLettered: number }).deadLettered, { timeout: 20_000 }).toBe(1);
    await expect.poll(async () => fetch(`${api}/api/v1/dlq`).then((r) => r.json())).toEqual([expect.objectContaining({ name: 'hook', topic: '$dlq/hook', held: 1 })]);
    expect(fake.accepted.map((e) => e.payload)).toEqual(['even']);

    isRefusing = false;
    const replay = await fetch(`${api}/api/v1/dlq/hook/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(await replay.json()).toEqual({ replayed: 1, into: '$connector/hook' });
    await fake.waitUntil(() => fake.accepted.length === 2, 20_000, () => `accepted ${fake.accepted.length}`);
    const replayed = fake.accepted[1]!;
    expect(replayed).toMatchObject({ topic: 'dev/1/data', payload: 'odd' });
    // The dead-letter properties are gone from the replayed message.
    expect(replayed.userProperties ?? {}).not.toHaveProperty('reason');
    expect(((await fetch(`${api}/api/v1/dlq`).then((r) => r.json())) as Array<{ held: number }>)[0]!.held).toBe(0);
    await publisher.endAsync();
  }, 60_000);
});
