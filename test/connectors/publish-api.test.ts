/**
 * POST /api/v1/publish: commands from a backend to devices over the admin listener (token),
 * answered after the commit with the number of matching sessions: 1,000 commands to an offline
 * persistent device arrive in order when it reconnects; expired ones are not delivered; no
 * subscriber → 202.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connectClient, connectCollecting } from '../helpers/clients.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';

const TOKEN = 'a-token-of-sixteen-chars';
let tb: TestBroker | undefined;
let clockOffsetMs = 0;
afterAll(async () => {
  await tb?.cleanup();
});

async function post(body: unknown, token: string | null = TOKEN): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${tb!.broker.httpBoundAddress!.port}/api/v1/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('POST /api/v1/publish', () => {
  it('1,000 commands to an offline persistent device arrive in order on reconnect; expired ones do not; no subscriber → 202', async () => {
    tb = await startBroker({ store: { type: 'level' }, http: { enabled: true, host: '127.0.0.1', port: 0, token: TOKEN } }, { now: () => Date.now() + clockOffsetMs });
    const device = await connectClient(tb.url, { clientId: 'dev-1', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    await device.subscribeAsync('cmd/dev-1', { qos: 1 });
    await device.endAsync();

    expect((await post({ topic: 'cmd/dev-1', payload: 'x' }, null)).status).toBe(401);
    expect((await post({ topic: 'cmd/+', payload: 'x' })).status).toBe(400);
    expect(await post({ topic: 'cmd/nobody', payload: 'x' })).toEqual({ status: 202, body: { matched: 0 } });

    for (let n = 0; n < 1000; n++) expect(await post({ topic: 'cmd/dev-1', payload: String(n) })).toEqual({ status: 200, body: { matched: 1 } });
    // Expires after 60 s, and the clock moves 120 s on before the device returns.
    expect((await post({ topic: 'cmd/dev-1', payload: 'stale', messageExpiryInterval: 60 })).status).toBe(200);
    expect(tb.broker.admin.session('dev-1')!.queuedCount).toBe(1001);
    clockOffsetMs = 120_000;

    const { collector } = await connectCollecting(tb.url, { clientId: 'dev-1', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    const received = await collector.waitFor(1000, 20_000);
    expect(received.map((m) => m.payload)).toEqual(Array.from({ length: 1000 }, (_, n) => String(n)));
    await expect.poll(() => tb!.broker.admin.stats.dropped.expired).toBe(1);
    expect(collector.messages.some((m) => m.payload === 'stale')).toBe(false);
  }, 60_000);
});
