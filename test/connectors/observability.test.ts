/**
 * Connector state and counters in /metrics, $SYS and GET /api/v1/connectors, and pause/resume
 * through the admin API (messages keep queueing while paused, and flow after resume).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connectCollecting } from '../helpers/clients.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { connectPublisher, FakeHttpBackend } from './helpers.js';

let tb: TestBroker | undefined;
const fake = new FakeHttpBackend();
afterAll(async () => {
  await tb?.cleanup();
  await fake.stop();
});

describe('connector observability', () => {
  it('reports state, queue and counters, and pauses/resumes through the admin API', async () => {
    const url = await fake.start();
    tb = await startBroker({
      store: { type: 'level' },
      http: { enabled: true, host: '127.0.0.1', port: 0 },
      connectors: [{ name: 'obs', type: 'http', url, sink: { topics: ['obs/#'] }, delivery: { batchSize: 10, inflight: 1, maxWaitMs: 5, retryMinMs: 20, retryMaxMs: 100 } }],
    });
    const api = `http://127.0.0.1:${tb.broker.httpBoundAddress!.port}`;
    const { client: sys, collector } = await connectCollecting(tb.url, { clientId: 'sys-reader' });
    await sys.subscribeAsync('$SYS/broker/connector/obs/state');
    expect((await collector.waitFor(1))[0]!.payload).toBe('running');

    const { client: sysPausedBy, collector: pausedBy } = await connectCollecting(tb.url, { clientId: 'sys-paused-by' });
    await sysPausedBy.subscribeAsync('$SYS/broker/connector/obs/paused-by');
    expect((await pausedBy.waitFor(1))[0]!.payload).toBe('none');

    const paused = await fetch(`${api}/api/v1/connectors/obs/pause`, { method: 'POST' }).then((r) => r.json() as Promise<Record<string, unknown>>);
    expect(paused).toMatchObject({ name: 'obs', state: 'paused', pausedBy: 'operator', pausedReason: 'paused by the admin API' });
    await collector.waitFor(2);
    expect(collector.messages[1]!.payload).toBe('paused');
    expect((await pausedBy.waitFor(2))[1]!.payload).toBe('operator');
    const pausedMetrics = await fetch(`${api}/metrics`).then((r) => r.text());
    expect(pausedMetrics).toContain('midge_connector_state{connector="obs",state="paused"} 1');
    expect(pausedMetrics).toContain('midge_connector_paused_by_operator{connector="obs"} 1');
    // An http connector has no source to pause.
    expect((await fetch(`${api}/api/v1/connectors/obs/pause?part=source`, { method: 'POST' })).status).toBe(404);

    const publisher = await connectPublisher(tb.url, 'obs-pub');
    for (let n = 0; n < 25; n++) await publisher.publishAsync('obs/t', String(n), { qos: 1 });
    const list = await fetch(`${api}/api/v1/connectors`).then((r) => r.json() as Promise<Array<Record<string, unknown>>>);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ name: 'obs', type: 'http', state: 'paused', queued: 25, delivered: 0 });
    expect(fake.accepted).toHaveLength(0);
    // Connectors are not bridges.
    expect(await fetch(`${api}/api/v1/bridges`).then((r) => r.json())).toEqual([]);

    const resumed = await fetch(`${api}/api/v1/connectors/obs/resume`, { method: 'POST' }).then((r) => r.json() as Promise<Record<string, unknown>>);
    expect(resumed).toMatchObject({ state: 'running', pausedBy: null, pausedReason: null });
    expect((await pausedBy.waitFor(3))[2]!.payload).toBe('none');
    await fake.waitUntil(() => fake.accepted.length === 25, 10_000, () => `got ${fake.accepted.length}`);
    await expect.poll(async () => ((await fetch(`${api}/api/v1/connectors/obs`).then((r) => r.json())) as { delivered: number }).delivered).toBe(25);

    const metrics = await fetch(`${api}/metrics`).then((r) => r.text());
    expect(metrics).toContain('midge_connector_state{connector="obs",state="running"} 1');
    expect(metrics).toContain('midge_connector_delivered_total{connector="obs"} 25');
    expect(metrics).toMatch(/midge_connector_failed_total\{connector="obs",class="data"\} 0/);
    expect(metrics).toContain('midge_connector_queued_messages{connector="obs"} 0');
    expect(metrics).toContain('midge_connector_paused_by_operator{connector="obs"} 0');
    expect(metrics).not.toContain('midge_bridge_connected{bridge="obs"}');
    expect((await fetch(`${api}/api/v1/connectors/nope`)).status).toBe(404);
    await publisher.endAsync();
    await sys.endAsync();
    await sysPausedBy.endAsync();
  }, 30_000);
});
