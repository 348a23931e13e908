/**
 * The session lifecycle with fakes: a real registry, router and group commit over a memory store,
 * connections as plain objects, a ManualClock. No broker, no socket, no sleep.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientConnection, CloseReason } from '../../src/broker/context.js';
import { Router } from '../../src/broker/router.js';
import { BrokerSessionLifecycle } from '../../src/broker/session-lifecycle.js';
import { BrokerStats } from '../../src/broker/stats.js';
import { allowAllAuthorizer } from '../../src/auth/index.js';
import { ManualClock } from '../../src/clock/index.js';
import { ClientEventLog, createLogger } from '../../src/observability/index.js';
import { SessionRegistry } from '../../src/session/index.js';
import { GroupCommitter, MemoryStore, type SessionRecord } from '../../src/store/index.js';
import { FakeLink } from '../session/fakes.js';

function setup() {
  const clock = new ManualClock(Date.now());
  const now = (): number => clock.now();
  const store = new MemoryStore();
  const committer = new GroupCommitter(store, () => undefined, () => undefined);
  const sessions = new SessionRegistry(committer, { maxInflight: 10, maxQueuedMessages: 10, maxQueuedBytes: 1 << 20 }, { onDrop: () => undefined, now });
  const router = new Router(sessions, committer, { maxRetainedMessages: 10, maxRetainedBytes: 1 << 20, sharedStrategy: 'round-robin', onRetainRefused: () => undefined });
  const clients = new Map<string, ClientConnection>();
  const stats = new BrokerStats();
  const logger = createLogger('silent');
  const lifecycle = new BrokerSessionLifecycle({ store, committer, sessions, router, clients, stats, logger, clientEvents: new ClientEventLog(logger, clock), authorizer: allowAllAuthorizer, now, clock });
  return { clock, store, committer, sessions, router, clients, stats, lifecycle };
}

/** A connection as the lifecycle sees it: what it records of being told to close. */
function fakeConnection(clientId: string, closeReason?: CloseReason) {
  const told: Array<{ reasonCode: number; why?: string }> = [];
  const destroyed: CloseReason[] = [];
  const connection = {
    clientId,
    remoteAddress: '127.0.0.1:1',
    protocolVersion: 5,
    session: undefined,
    closeReason,
    isDisconnectClean: false,
    isTakenOver: false,
    disconnectWithReason: (reasonCode: number, why?: string) => told.push({ reasonCode, why }),
    destroy: (reason: CloseReason) => destroyed.push(reason),
  } as unknown as ClientConnection;
  return { connection, told, destroyed };
}

let current: ReturnType<typeof setup> | undefined;
afterEach(async () => {
  current?.lifecycle.cancelAll();
  await current?.committer.close();
  current = undefined;
});

describe('session lifecycle', () => {
  it('[5.0 MQTT-3.1.4-3] takeover: the connection holding the id is told 0x8E and closed; the newcomer is left alone', () => {
    const { lifecycle, clients } = (current = setup());
    const old = fakeConnection('dev');
    const newcomer = fakeConnection('dev');
    clients.set('dev', old.connection);
    lifecycle.takeOver('dev', newcomer.connection);
    expect(old.connection.isTakenOver).toBe(true);
    expect(old.told.map((t) => t.reasonCode)).toEqual([0x8e]);
    expect(old.destroyed).toEqual(['session-taken-over']);
    lifecycle.takeOver('dev', old.connection); // itself: nothing
    expect(old.destroyed).toHaveLength(1);
    expect(newcomer.destroyed).toEqual([]);
  });

  it('register and close count the client; a session ending with its connection is discarded', () => {
    const { lifecycle, sessions, clients, stats } = (current = setup());
    const { connection } = fakeConnection('short', 'client-disconnect');
    connection.session = sessions.create('short', 5, 0);
    lifecycle.register(connection);
    expect(clients.get('short')).toBe(connection);
    expect(stats.clientsConnected).toBe(1);
    lifecycle.onConnectionClosed(connection);
    expect(clients.has('short')).toBe(false);
    expect(stats.clientsConnected).toBe(0);
    expect(stats.disconnectsByReason['client-disconnect']).toBe(1);
    expect(sessions.get('short')).toBeUndefined();
  });

  it('[3.1.1 MQTT-3.1.2-8] a connection lost without DISCONNECT publishes the will; [3.1.1 MQTT-3.1.2-10] a clean one discards it', async () => {
    const { lifecycle, sessions, router } = (current = setup());
    const watcher = new FakeLink();
    const subscription = { filter: 'wills/#', qos: 0 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const };
    sessions.create('watcher', 5, 0).attach(watcher, 65_535);
    sessions.get('watcher')!.setSubscription(subscription);
    router.addSubscription('watcher', subscription);
    const will = { topic: 'wills/lost', payload: Buffer.from('gone'), qos: 0 as const, retain: false, delayInterval: 0 };

    const lost = fakeConnection('lost', 'connection-lost');
    lost.connection.session = sessions.create('lost', 5, 0);
    lost.connection.session.will = { ...will };
    lifecycle.onConnectionClosed(lost.connection);
    expect(watcher.texts).toEqual(['gone']);

    const clean = fakeConnection('clean', 'client-disconnect');
    clean.connection.isDisconnectClean = true;
    clean.connection.session = sessions.create('clean', 5, 0);
    clean.connection.session.will = { ...will, topic: 'wills/clean' };
    lifecycle.onConnectionClosed(clean.connection);
    expect(watcher.texts).toEqual(['gone']);
  });

  it('a persistent session outlives its connection: detached, kept, its record saved', async () => {
    const { lifecycle, sessions, committer, store } = (current = setup());
    await store.open();
    const { connection } = fakeConnection('kept', 'connection-lost');
    connection.session = sessions.create('kept', 5, 3600);
    lifecycle.onConnectionClosed(connection);
    const session = sessions.get('kept');
    expect(session?.isOnline).toBe(false);
    expect(session?.disconnectedAt).toBeTypeOf('number');
    await committer.drain();
    expect((await store.loadSessions()).map((s) => s.session.clientId)).toEqual(['kept']);
  });

  it('restoreSession deletes a stored session that expired while the broker was down', () => {
    const { lifecycle, sessions, clock } = (current = setup());
    const now = clock.now();
    const record: SessionRecord = { clientId: 'old', protocolVersion: 5, expiryInterval: 10, disconnectedAt: now - 60_000 };
    expect(lifecycle.restoreSession({ session: record, subscriptions: [], outgoingCount: 0, nextOutgoingSeq: 1 }, now)).toBe(false);
    expect(sessions.get('old')).toBeUndefined();
    expect(lifecycle.restoreSession({ session: { ...record, clientId: 'fresh', disconnectedAt: now - 1000 }, subscriptions: [], outgoingCount: 0, nextOutgoingSeq: 1 }, now)).toBe(true);
    expect(sessions.get('fresh')?.isOnline).toBe(false);
    // [5.0 MQTT-4.1.0-2] its expiry timer runs on from the stored disconnect: 9 s left.
    clock.advance(8_999);
    expect(sessions.get('fresh')).toBeDefined();
    clock.advance(1);
    expect(sessions.get('fresh')).toBeUndefined();
  });
});
