/**
 * The Store contract suite: every backend runs these cases, Midge's own (memory, level) and a
 * third party's alike. A backend declares what it supports (`canReopen`: state survives close +
 * open) and runs the matching cases. From another package, in a vitest test file:
 *
 *   import { storeContract } from 'midge/store-contract';
 *   storeContract({ name: 'redis', canReopen: true, make: async (reopen) => …, cleanup: async () => … });
 *
 * It is a separate entry point (package.json "exports") so that the broker never loads vitest;
 * vitest is an optional peer dependency, needed only by whoever imports this file.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Message, OutgoingRecord, SessionRecord, Store, SubscriptionRecord } from './types.js';

/** What the suite needs of a backend: a factory for its stores and a way to clean up after one. */
export interface StoreBackend {
  /** Shown in the suite's name: `Store contract: <name>`. */
  name: string;
  /** Whether what a store wrote is there again after close() and a new make(true) + open(). */
  canReopen: boolean;
  /** A new, empty store (not yet opened), or the same one again when `reopen` is true. */
  make(reopen: boolean): Promise<Store>;
  cleanup(): Promise<void>;
}

const session = (clientId: string, extra: Partial<SessionRecord> = {}): SessionRecord => ({
  clientId,
  protocolVersion: 5,
  expiryInterval: 3600,
  ...extra,
});

const subscription = (filter: string, qos: 0 | 1 | 2 = 1): SubscriptionRecord => ({
  filter,
  qos,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
});

const message = (topic: string, payload: string | Buffer, extra: Partial<Message> = {}): Message => ({
  topic,
  payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
  qos: 1,
  retain: false,
  ...extra,
});

const outgoing = (seq: number, extra: Partial<OutgoingRecord> = {}): OutgoingRecord => ({
  seq,
  message: message(`t/${seq}`, `m${seq}`),
  qos: 1,
  retain: false,
  state: 'queued',
  ...extra,
});

export function storeContract(backend: StoreBackend): void {
  describe(`Store contract: ${backend.name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await backend.make(false);
      await store.open();
    });

    afterEach(async () => {
      await store.close();
      await backend.cleanup();
    });

    async function reopen(): Promise<void> {
      await store.close();
      store = await backend.make(true);
      await store.open();
    }

    it('stores and loads a session with its subscriptions and will', async () => {
      const will = { ...message('dev/1/status', 'offline', { retain: true }), delayInterval: 5 };
      await store.write([
        { type: 'putSession', session: session('c1', { will, disconnectedAt: 1234 }) },
        { type: 'putSubscription', clientId: 'c1', subscription: subscription('a/+') },
        { type: 'putSubscription', clientId: 'c1', subscription: { ...subscription('b/#', 2), subscriptionId: 7, noLocal: true } },
      ]);
      const sessions = await store.loadSessions();
      expect(sessions).toHaveLength(1);
      expect(sessions[0]!.session).toMatchObject({ clientId: 'c1', expiryInterval: 3600, disconnectedAt: 1234 });
      expect(sessions[0]!.session.will?.payload.toString()).toBe('offline');
      expect(sessions[0]!.session.will?.delayInterval).toBe(5);
      const filters = sessions[0]!.subscriptions.map((s) => s.filter).sort();
      expect(filters).toEqual(['a/+', 'b/#']);
      expect(sessions[0]!.subscriptions.find((s) => s.filter === 'b/#')).toMatchObject({ qos: 2, subscriptionId: 7, noLocal: true });
    });

    it('replaces and deletes a subscription', async () => {
      await store.write([
        { type: 'putSession', session: session('c1') },
        { type: 'putSubscription', clientId: 'c1', subscription: subscription('a', 0) },
        { type: 'putSubscription', clientId: 'c1', subscription: subscription('a', 2) },
        { type: 'putSubscription', clientId: 'c1', subscription: subscription('b', 1) },
        { type: 'deleteSubscription', clientId: 'c1', filter: 'b' },
      ]);
      const [loaded] = await store.loadSessions();
      expect(loaded!.subscriptions).toEqual([subscription('a', 2)]);
    });

    it('keeps outgoing records in seq order, with packet id and state transitions', async () => {
      await store.write([{ type: 'putSession', session: session('c1') }]);
      // Written out of order, and past 2^32 so ordering is not an accident of small numbers.
      const seqs = [3, 1, 2 ** 33, 2, 255, 256];
      await store.write(seqs.map((seq) => ({ type: 'putOutgoing' as const, clientId: 'c1', record: outgoing(seq) })));
      expect((await store.loadOutgoing('c1')).map((r) => r.seq)).toEqual([1, 2, 3, 255, 256, 2 ** 33]);
      expect((await store.loadSessions())[0]).toMatchObject({ nextOutgoingSeq: 2 ** 33 + 1, outgoingCount: 6 });
      await store.write([{ type: 'deleteOutgoing', clientId: 'c1', seq: 255 }]);
      expect((await store.loadSessions())[0]!.outgoingCount).toBe(5);
      await store.write([{ type: 'putOutgoing', clientId: 'c1', record: outgoing(255) }]);

      await store.write([{ type: 'putOutgoing', clientId: 'c1', record: outgoing(1, { qos: 2, packetId: 10, state: 'sent' }) }]);
      await store.write([{ type: 'putOutgoing', clientId: 'c1', record: outgoing(1, { qos: 2, packetId: 10, state: 'pubrec' }) }]);
      await store.write([{ type: 'deleteOutgoing', clientId: 'c1', seq: 2 }]);
      const loaded = await store.loadOutgoing('c1');
      expect(loaded.map((r) => r.seq)).toEqual([1, 3, 255, 256, 2 ** 33]);
      expect(loaded[0]).toMatchObject({ packetId: 10, state: 'pubrec', qos: 2 });
      expect(loaded[0]!.message.payload.toString()).toBe('m1');
    });

    it('loadOutgoing with the span its records lie in returns what a plain read returns, for several sessions read at once', async () => {
      await store.write([{ type: 'putSession', session: session('c1') }, { type: 'putSession', session: session('c2') }, { type: 'putSession', session: session('c3') }]);
      await store.write([1, 2, 3, 5, 6].map((seq) => ({ type: 'putOutgoing' as const, clientId: 'c1', record: outgoing(seq) })));
      await store.write([7, 8].map((seq) => ({ type: 'putOutgoing' as const, clientId: 'c2', record: outgoing(seq) })));
      // c1's seq 4 was acked (a hole); c3 has none.
      const [c1, c2, c3] = await Promise.all([
        store.loadOutgoing('c1', { fromSeq: 1, toSeq: 7, count: 5 }),
        store.loadOutgoing('c2', { fromSeq: 7, toSeq: 9, count: 2 }),
        store.loadOutgoing('c3', { fromSeq: 1, toSeq: 1, count: 0 }),
      ]);
      expect(c1!.map((r) => r.seq)).toEqual([1, 2, 3, 5, 6]);
      expect(c1).toEqual(await store.loadOutgoing('c1'));
      expect(c2!.map((r) => [r.seq, r.message.payload.toString()])).toEqual([
        [7, 'm7'],
        [8, 'm8'],
      ]);
      expect(c3).toEqual([]);
      // A span with far more seqs than records (acks out of order left it sparse) reads the same.
      await store.write([{ type: 'putOutgoing', clientId: 'c2', record: outgoing(10_000) }]);
      expect((await store.loadOutgoing('c2', { fromSeq: 7, toSeq: 10_001, count: 3 })).map((r) => r.seq)).toEqual([7, 8, 10_000]);
    });

    it('keeps message properties, including binary correlation data', async () => {
      const props = {
        contentType: 'application/json',
        responseTopic: 'reply/1',
        correlationData: Buffer.from([0, 1, 2, 255]),
        userProperties: { a: '1', b: ['x', 'y'] },
        payloadFormatIndicator: true,
      };
      await store.write([
        { type: 'putSession', session: session('c1') },
        {
          type: 'putOutgoing',
          clientId: 'c1',
          record: outgoing(1, { message: message('t', 'p', { properties: props, expiresAt: 99 }), subscriptionIds: [3, 4] }),
        },
      ]);
      const [record] = await store.loadOutgoing('c1');
      expect(record!.message.properties).toEqual(props);
      expect(Buffer.isBuffer(record!.message.properties!.correlationData)).toBe(true);
      expect(record!.message.expiresAt).toBe(99);
      expect(record!.subscriptionIds).toEqual([3, 4]);
    });

    it('tracks incoming QoS 2 packet ids', async () => {
      await store.write([
        { type: 'putSession', session: session('c1') },
        { type: 'putIncomingQos2', clientId: 'c1', packetId: 1 },
        { type: 'putIncomingQos2', clientId: 'c1', packetId: 65535 },
        { type: 'putIncomingQos2', clientId: 'c1', packetId: 7 },
      ]);
      await store.write([{ type: 'deleteIncomingQos2', clientId: 'c1', packetId: 7 }]);
      expect((await store.loadIncomingQos2('c1')).sort((a, b) => a - b)).toEqual([1, 65535]);
    });

    it('deleteSession removes the session and all it owns, but not other sessions', async () => {
      await store.write([
        { type: 'putSession', session: session('c1') },
        { type: 'putSession', session: session('c10') },
        { type: 'putSubscription', clientId: 'c1', subscription: subscription('a') },
        { type: 'putSubscription', clientId: 'c10', subscription: subscription('b') },
        { type: 'putOutgoing', clientId: 'c1', record: outgoing(1) },
        { type: 'putOutgoing', clientId: 'c10', record: outgoing(1) },
        { type: 'putIncomingQos2', clientId: 'c1', packetId: 5 },
      ]);
      await store.write([{ type: 'deleteSession', clientId: 'c1' }]);
      const sessions = await store.loadSessions();
      expect(sessions.map((s) => s.session.clientId)).toEqual(['c10']);
      expect(sessions[0]!.subscriptions.map((s) => s.filter)).toEqual(['b']);
      expect(await store.loadOutgoing('c1')).toEqual([]);
      expect(await store.loadIncomingQos2('c1')).toEqual([]);
      expect(await store.loadOutgoing('c10')).toHaveLength(1);
    });

    it('deleteSession in the same batch also removes what that batch put, and a later put starts fresh', async () => {
      await store.write([
        { type: 'putSession', session: session('c1') },
        { type: 'putOutgoing', clientId: 'c1', record: outgoing(1) },
        { type: 'deleteSession', clientId: 'c1' },
        { type: 'putSession', session: session('c1', { expiryInterval: 5 }) },
        { type: 'putSubscription', clientId: 'c1', subscription: subscription('new') },
      ]);
      const sessions = await store.loadSessions();
      expect(sessions).toHaveLength(1);
      expect(sessions[0]!.session.expiryInterval).toBe(5);
      expect(sessions[0]!.subscriptions.map((s) => s.filter)).toEqual(['new']);
      expect(await store.loadOutgoing('c1')).toEqual([]);
    });

    it('retained messages: replace and delete', async () => {
      await store.write([
        { type: 'putRetained', message: message('a/b', 'one', { retain: true }) },
        { type: 'putRetained', message: message('a/c', 'x', { retain: true }) },
      ]);
      await store.write([
        { type: 'putRetained', message: message('a/b', 'two', { retain: true, qos: 2 }) },
        { type: 'deleteRetained', topic: 'a/c' },
      ]);
      const retained = await store.loadRetained();
      expect(retained).toHaveLength(1);
      expect(retained[0]).toMatchObject({ topic: 'a/b', qos: 2 });
      expect(retained[0]!.payload.toString()).toBe('two');
    });

    it('stores large values (256 KiB payloads) byte for byte', async () => {
      const big = Buffer.alloc(256 * 1024);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
      await store.write([
        { type: 'putSession', session: session('c1') },
        { type: 'putOutgoing', clientId: 'c1', record: outgoing(1, { message: message('big', big) }) },
        { type: 'putRetained', message: message('big', big, { retain: true }) },
      ]);
      expect((await store.loadOutgoing('c1'))[0]!.message.payload.equals(big)).toBe(true);
      expect((await store.loadRetained())[0]!.payload.equals(big)).toBe(true);
    });

    it('topics and client ids with unusual characters stay apart', async () => {
      await store.write([
        { type: 'putSession', session: session('a') },
        { type: 'putSession', session: session('a/b') },
        { type: 'putSession', session: session('ä€😀') },
        { type: 'putOutgoing', clientId: 'a', record: outgoing(1) },
        { type: 'putOutgoing', clientId: 'a/b', record: outgoing(2) },
        { type: 'putRetained', message: message('€/😀/+literal', 'u') },
      ]);
      expect((await store.loadSessions()).map((s) => s.session.clientId).sort()).toEqual(['a', 'a/b', 'ä€😀']);
      expect((await store.loadOutgoing('a')).map((r) => r.seq)).toEqual([1]);
      expect((await store.loadOutgoing('a/b')).map((r) => r.seq)).toEqual([2]);
      expect((await store.loadRetained())[0]!.topic).toBe('€/😀/+literal');
    });

    it.runIf(backend.canReopen)('close and reopen keeps everything', async () => {
      await store.write([
        { type: 'putSession', session: session('c1', { disconnectedAt: 42 }) },
        { type: 'putSubscription', clientId: 'c1', subscription: subscription('a/#', 2) },
        { type: 'putOutgoing', clientId: 'c1', record: outgoing(1, { packetId: 3, state: 'sent' }) },
        { type: 'putOutgoing', clientId: 'c1', record: outgoing(2) },
        { type: 'putIncomingQos2', clientId: 'c1', packetId: 9 },
        { type: 'putRetained', message: message('r', 'kept', { retain: true }) },
      ]);
      await reopen();
      const [loaded] = await store.loadSessions();
      expect(loaded!.session).toMatchObject({ clientId: 'c1', disconnectedAt: 42 });
      expect(loaded!.subscriptions).toEqual([subscription('a/#', 2)]);
      expect(loaded).toMatchObject({ nextOutgoingSeq: 3, outgoingCount: 2 });
      expect((await store.loadOutgoing('c1')).map((r) => [r.seq, r.state, r.packetId])).toEqual([
        [1, 'sent', 3],
        [2, 'queued', undefined],
      ]);
      expect(await store.loadIncomingQos2('c1')).toEqual([9]);
      expect((await store.loadRetained())[0]!.payload.toString()).toBe('kept');
    });

    it('a write of many operations is all-or-nothing visible after it resolves', async () => {
      const ops = Array.from({ length: 2000 }, (_, i) => ({ type: 'putRetained' as const, message: message(`bulk/${i}`, `v${i}`) }));
      await store.write(ops);
      expect(await store.loadRetained()).toHaveLength(2000);
    });
  });
}
