import { rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LevelStore, StoreOpenError } from '../../src/store/index.js';
import { makeTempDir } from '../helpers/temp.js';
import { storeContract } from '../../src/store/contract.js';

let dir: string | undefined;

storeContract({
  name: 'level',
  canReopen: true,
  make: async (reopen) => {
    if (!reopen || !dir) dir = await makeTempDir('midge-store-');
    return new LevelStore(path.join(dir, 'store'));
  },
  cleanup: async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  },
});

describe('LevelStore open errors', () => {
  it('a second store on the same directory fails with a one-line "locked" error', async () => {
    const base = await makeTempDir('midge-store-');
    const first = new LevelStore(path.join(base, 'store'));
    await first.open();
    const second = new LevelStore(path.join(base, 'store'));
    const error = await second.open().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreOpenError);
    expect((error as Error).message).toMatch(/locked/);
    expect((error as Error).message).not.toContain('\n');
    await first.close();
    await rm(base, { recursive: true, force: true });
  });
});

describe('LevelStore restart reads', () => {
  const record = (seq: number) => ({
    seq,
    message: { topic: `t/${seq}`, payload: Buffer.from(`m${seq}`), qos: 1 as const, retain: false },
    qos: 1 as const,
    retain: false,
    state: 'queued' as const,
  });
  const sessionOf = (clientId: string) => ({ clientId, protocolVersion: 4 as const, expiryInterval: 0xffffffff, disconnectedAt: 1 });

  it('loadSessions says where each queue starts and brings the incoming QoS 2 ids (so a CONNECT reads neither by a scan)', async () => {
    const base = await makeTempDir('midge-store-');
    const store = new LevelStore(path.join(base, 'store'));
    await store.open();
    await store.write([
      { type: 'putSession', session: sessionOf('a') },
      { type: 'putSession', session: sessionOf('b') },
      ...[4, 5, 9].map((seq) => ({ type: 'putOutgoing' as const, clientId: 'a', record: record(seq) })),
      { type: 'putIncomingQos2', clientId: 'b', packetId: 7 },
      { type: 'putIncomingQos2', clientId: 'b', packetId: 65535 },
    ]);
    const byId = new Map((await store.loadSessions()).map((s) => [s.session.clientId, s]));
    expect(byId.get('a')).toMatchObject({ firstOutgoingSeq: 4, nextOutgoingSeq: 10, outgoingCount: 3, incomingQos2Ids: [] });
    expect(byId.get('b')).toMatchObject({ outgoingCount: 0, nextOutgoingSeq: 1, incomingQos2Ids: [7, 65535] });
    expect(byId.get('b')!.firstOutgoingSeq).toBeUndefined();
    await store.close();
    await rm(base, { recursive: true, force: true });
  });

  it('queue reads of more sessions than one read takes (2,048 keys) each get their own records, in order', async () => {
    const base = await makeTempDir('midge-store-');
    const store = new LevelStore(path.join(base, 'store'));
    await store.open();
    const clients = Array.from({ length: 300 }, (_, i) => `c${i}`);
    await store.write(clients.flatMap((clientId, i) => [
      { type: 'putSession' as const, session: sessionOf(clientId) },
      ...Array.from({ length: 10 }, (_, k) => ({ type: 'putOutgoing' as const, clientId, record: record(i * 100 + k + 1) })),
    ]));
    const loaded = await Promise.all(clients.map((clientId, i) => store.loadOutgoing(clientId, { fromSeq: i * 100 + 1, toSeq: i * 100 + 11, count: 10 })));
    loaded.forEach((records, i) => expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 10 }, (_, k) => i * 100 + k + 1)));
    expect(loaded[299]![9]!.message.payload.toString()).toBe('m29910');
    await store.close();
    await rm(base, { recursive: true, force: true });
  });
});
