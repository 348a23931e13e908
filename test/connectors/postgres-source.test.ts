/**
 * The PostgreSQL outbox source against a real PostgreSQL (one server for this file): rows taken
 * with SELECT … FOR UPDATE SKIP LOCKED, woken by LISTEN/NOTIFY, deleted (or marked done) in the
 * same transaction after Midge committed their commands. The scenarios are in source-scenarios.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from 'pg';
import type { SourceStatus } from '../../src/connectors/index.js';
import { closeAllClients, connectClient, connectCollecting } from '../helpers/clients.js';
import { startBroker } from '../helpers/broker.js';
import { announceSkip } from '../helpers/peers.js';
import { PostgresServer, serverPackages } from '../helpers/servers.js';
import { defineSourceScenarios, MAPPING, type SourceDriver } from './source-scenarios.js';

const available = serverPackages.postgres.isAvailable;
announceSkip(available, 'the PostgreSQL outbox source tests', serverPackages.postgres.debianPackage);

let server: PostgresServer;

/** A client per statement: the outage test restarts the server under it. */
const client = {
  async query(text: string, values: unknown[] = []): Promise<{ rows: Array<Record<string, unknown>> }> {
    const { default: pg } = await import('pg');
    const c: Client = new pg.Client({ connectionString: server.url });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return await c.query(text, values);
    } finally {
      await c.end();
    }
  },
};
const cleanups: Array<() => Promise<unknown>> = [];
beforeAll(async () => {
  if (!available) return;
  server = await PostgresServer.create();
}, 120_000);
afterEach(closeAllClients);
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  await server?.destroy();
}, 60_000);

/** Scenario names as SQL names. */
const table = (resource: string): string => `outbox_${resource.replaceAll('-', '_')}`;

const driver: SourceDriver = {
  connector: (name, resource, source = {}) => ({
    name,
    type: 'postgres',
    url: server.url,
    // The trigger NOTIFYs; the long poll shows the wake-up is what moves the rows.
    source: { table: table(resource), notify: table(resource), pollMs: 30_000, ...MAPPING, ...source },
  }),
  prepare: async (resource) => {
    const t = table(resource);
    await client.query(`DROP TABLE IF EXISTS ${t}`);
    await client.query(`CREATE TABLE ${t} (id bigserial PRIMARY KEY, payload text NOT NULL, done_at timestamptz)`);
    await client.query(`CREATE OR REPLACE FUNCTION ${t}_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('${t}', ''); RETURN NULL; END $$`);
    await client.query(`CREATE TRIGGER ${t}_notify AFTER INSERT ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${t}_notify()`);
  },
  produce: async (resource, commands) => {
    const payloads = commands.map((c) => (typeof c === 'string' ? c : JSON.stringify(c)));
    await client.query(`INSERT INTO ${table(resource)} (payload) SELECT p FROM unnest($1::text[]) WITH ORDINALITY AS u(p, i) ORDER BY i`, [payloads]);
  },
  remaining: async (resource) => Number((await client.query(`SELECT count(*) AS n FROM ${table(resource)} WHERE done_at IS NULL`)).rows[0].n),
  // A rolled-back row is simply there again: PostgreSQL keeps no delivery count.
  flagsRedelivery: false,
  smallWindow: { batchSize: 20 },
  get server() {
    return server;
  },
};

describe.skipIf(!available)('PostgreSQL outbox source', () => {
  defineSourceScenarios(() => driver, cleanups);

  it('onDone: mark sets done_at instead of deleting; columns are template fields', async () => {
    await driver.prepare('mark');
    const tb = await startBroker({
      store: { type: 'level' },
      connectors: [driver.connector('mark', 'mark', { onDone: 'mark', userProperties: { row: '${id}' } })],
    });
    cleanups.push(() => tb.cleanup());
    const device = await connectClient(tb.url, { clientId: 'dev-mark', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    await device.subscribeAsync('cmd/dev-mark', { qos: 1 });
    await device.endAsync();
    await driver.produce('mark', [{ device: 'dev-mark', n: 1 }, { device: 'dev-mark', n: 2 }]);
    const status = (): SourceStatus => tb.broker.serviceList.find((s) => s.name === 'mark/source')!.status as SourceStatus;
    await expect.poll(() => status().acked, { timeout: 20_000 }).toBe(2);
    const rows = (await client.query(`SELECT id, done_at FROM ${table('mark')} ORDER BY id`)).rows as unknown as Array<{ id: string; done_at: Date | null }>;
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.done_at instanceof Date)).toBe(true);
    const { collector } = await connectCollecting(tb.url, { clientId: 'dev-mark', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    const received = await collector.waitFor(2, 20_000);
    expect(received.map((m) => [m.payload, m.packet.properties?.userProperties?.row])).toEqual([
      ['1', rows[0]!.id],
      ['2', rows[1]!.id],
    ]);
  }, 60_000);
});
