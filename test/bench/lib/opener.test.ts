/**
 * The C connection opener scenario 13 relies on, in both protocol versions: persistent sessions
 * with queued QoS 1 messages survive a restart of a level-store broker, and the opener, reconnecting
 * them all at once, must see Session Present on every CONNACK, get (and ack) every queued message,
 * and count what is missing per session. Small sizes: this checks the tool, not a speed.
 */
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir, startBroker, type TestBroker } from '../../helpers/broker.js';
import { LoadClient, PublishTemplate, publishWindowed } from './load-client.js';
import { openerBinary, runOpener } from './opener.js';

const { binary, why } = openerBinary();
const SESSIONS = 20;
const QUEUED = 3;

describe.skipIf(!binary)(`C connection opener${binary ? '' : ` (skipped: ${why})`}`, () => {
  let server: TestBroker | undefined;
  let dataDir: string | undefined;
  afterEach(async () => {
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    server = undefined;
    dataDir = undefined;
  });

  /** SESSIONS persistent sessions, each subscribed to its own topic with QUEUED QoS 1 messages waiting, then a restart. */
  async function queuedSessionsAfterRestart(version: 4 | 5): Promise<TestBroker> {
    dataDir = await makeTempDir();
    const before = await startBroker({ dataDir, store: { type: 'level' } });
    const clients: LoadClient[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      const { client } = await LoadClient.connect(before.port, { clientId: `op-${i}`, clean: false, protocolVersion: version, sessionExpiryInterval: 600 });
      clients.push(client);
    }
    await Promise.all(clients.map((c, i) => c.subscribe(`op/${i}`, 1)));
    await Promise.all(clients.map((c) => c.disconnect()));
    const { client: publisher } = await LoadClient.connect(before.port, { clientId: 'op-pub', protocolVersion: version });
    const templates = Array.from({ length: SESSIONS }, (_, i) => new PublishTemplate(`op/${i}`, Buffer.from('queued'), 1, { version }));
    // Within Midge's default Receive Maximum (32) [5.0 MQTT-3.3.4-7].
    await publishWindowed(publisher, templates, 1, SESSIONS * QUEUED, 16);
    await publisher.disconnect();
    await before.stop();
    server = await startBroker({ dataDir, store: { type: 'level' } });
    return server;
  }

  for (const version of [4, 5] as const) {
    const name = version === 5 ? 'MQTT 5.0 (Session Expiry Interval, 5.0 PUBLISH/PUBACK framing)' : 'MQTT 3.1.1 (clean session 0)';
    it(`${name}: every session is present after the restart and gets all its queued messages, acked, none missing`, async () => {
      const broker = await queuedSessionsAfterRestart(version);
      const result = await runOpener(binary!, {
        port: broker.port,
        count: SESSIONS,
        outstanding: 10,
        holdMs: 0,
        isClean: false,
        idPrefix: 'op-',
        expectMessages: SESSIONS * QUEUED,
        idleMs: 10_000,
        version,
        sessionExpirySeconds: 600,
      });
      expect(result).toMatchObject({ connected: SESSIONS, failed: 0, sessionsPresent: SESSIONS, received: SESSIONS * QUEUED, missing: 0, duplicates: 0 });
      // Every PUBLISH was acked in the version's framing: nothing is left queued for any session.
      await expect.poll(() => [...broker.broker.sessions.values()].filter((s) => s.clientId.startsWith('op-') && s.clientId !== 'op-pub').map((s) => s.queuedCount + s.inflightCount)).toEqual(Array(SESSIONS).fill(0));
    });
  }

  it('counts what is missing per session: a share above what each session holds is reported short on every one', async () => {
    const broker = await queuedSessionsAfterRestart(4);
    const result = await runOpener(binary!, {
      port: broker.port,
      count: SESSIONS,
      outstanding: 10,
      holdMs: 0,
      isClean: false,
      idPrefix: 'op-',
      // One more than each session holds: the wait ends after idleMs without it.
      expectMessages: SESSIONS * (QUEUED + 1),
      idleMs: 300,
    });
    expect(result).toMatchObject({ connected: SESSIONS, received: SESSIONS * QUEUED, missing: SESSIONS });
  });
});
