/**
 * The committer through a failure episode (a full disk, simulated): the failed batch is kept and
 * retried, its acknowledgements wait and then go out, later work queues behind it, the episode is
 * reported once at each end, and a close during the episode gives up instead of hanging. And the
 * ordinary case: one batch per turn, acknowledgements after the write, retraction before it.
 */
import { describe, expect, it } from 'vitest';
import { GroupCommitter, MemoryStore, type StoreHealth, type StoreOp } from '../../src/store/index.js';

class FlakyStore extends MemoryStore {
  failuresLeft = 0;
  writes: StoreOp[][] = [];
  retriesPrepared = 0;
  isRoomAgain = true;

  override async write(ops: readonly StoreOp[]): Promise<void> {
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw new Error('IO error: No space left on device');
    }
    this.writes.push([...ops]);
    await super.write(ops);
  }

  async prepareRetry(): Promise<boolean> {
    this.retriesPrepared++;
    return this.isRoomAgain;
  }
}

const retained = (topic: string): StoreOp => ({ type: 'putRetained', message: { topic, payload: Buffer.from('x'), qos: 1, retain: true } });

function committerFor(store: FlakyStore): { committer: GroupCommitter; changes: Array<Readonly<StoreHealth> & { error?: string }> } {
  const changes: Array<Readonly<StoreHealth> & { error?: string }> = [];
  const committer = new GroupCommitter(store, () => undefined, undefined, {
    retryDelayMs: () => 5,
    onHealthChange: (health, error) => changes.push({ ...health, ...(error ? { error: error.message } : {}) }),
  });
  return { committer, changes };
}

describe('group commit through a failure episode', () => {
  it('retries the failed batch until it commits; acknowledgements wait, then go out in order', async () => {
    const store = new FlakyStore();
    await store.open();
    store.failuresLeft = 3;
    const { committer, changes } = committerFor(store);
    const acks: Array<string> = [];
    committer.add(retained('a'));
    committer.afterCommit((error) => acks.push(`a:${error?.message ?? 'ok'}`));
    await new Promise((r) => setImmediate(r));
    // Added while the first batch is failing: it waits behind it.
    committer.add(retained('b'));
    committer.afterCommit((error) => acks.push(`b:${error?.message ?? 'ok'}`));
    await committer.drain();
    expect(acks).toEqual(['a:ok', 'b:ok']);
    expect(store.writes.map((ops) => ops.map((op) => (op as { message: { topic: string } }).message.topic))).toEqual([['a'], ['b']]);
    expect(store.retriesPrepared).toBe(3);
    // One report when it started failing, one when it worked again — not one per attempt.
    expect(changes.map((c) => c.isWritable)).toEqual([false, true]);
    expect(changes[0]!.error).toContain('No space left');
    expect(changes[1]!.failedAttempts).toBe(3);
    expect(committer.health).toMatchObject({ isWritable: true, episodes: 1 });
    expect((await store.loadRetained()).map((m) => m.topic).sort()).toEqual(['a', 'b']);
  });

  it('waits while the store says a retry is not worth it yet (no room), without attempts', async () => {
    const store = new FlakyStore();
    await store.open();
    store.failuresLeft = 1;
    store.isRoomAgain = false;
    const { committer } = committerFor(store);
    let ack: string | undefined;
    committer.add(retained('a'));
    committer.afterCommit((error) => (ack = error?.message ?? 'ok'));
    await expect.poll(() => store.retriesPrepared).toBeGreaterThan(3);
    expect(ack).toBeUndefined();
    expect(committer.health).toMatchObject({ isWritable: false, failedAttempts: 1 });
    store.isRoomAgain = true;
    await committer.drain();
    expect(ack).toBe('ok');
  });

  it('a close during the episode tells the waiting acknowledgements the write failed', async () => {
    const store = new FlakyStore();
    await store.open();
    store.failuresLeft = 1_000_000;
    const { committer } = committerFor(store);
    const acks: string[] = [];
    committer.add(retained('a'));
    committer.afterCommit((error) => acks.push(error ? 'failed' : 'ok'));
    await expect.poll(() => committer.health.isWritable).toBe(false);
    committer.add(retained('b'));
    committer.afterCommit((error) => acks.push(error ? 'failed' : 'ok'));
    await committer.close();
    expect(acks).toEqual(['failed', 'failed']);
  });
});

/** A store whose writes wait until the test opens the gate: what a batch holds is visible before it lands. */
class GatedStore extends MemoryStore {
  writes: string[][] = [];
  private opened: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;

  closeGate(): void {
    this.opened = new Promise((resolve) => (this.release = resolve));
  }

  openGate(): void {
    this.release();
  }

  override async write(ops: readonly StoreOp[]): Promise<void> {
    this.writes.push(ops.map((op) => (op as { message: { topic: string } }).message.topic));
    await this.opened;
    await super.write(ops);
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('group commit', () => {
  it('what is added in one turn is one store write; each callback runs after it, in order; what comes during a write is the next batch', async () => {
    const store = new GatedStore();
    await store.open();
    store.closeGate();
    const committer = new GroupCommitter(store, () => undefined);
    const acks: string[] = [];
    for (const topic of ['a', 'b', 'c']) {
      committer.add(retained(topic));
      committer.afterCommit((error) => acks.push(`${topic}:${error?.message ?? 'ok'}`));
    }
    await turn();
    expect(store.writes).toEqual([['a', 'b', 'c']]);
    expect(acks).toEqual([]); // written is not yet committed: nothing acknowledged
    committer.add(retained('d'));
    committer.afterCommit((error) => acks.push(`d:${error?.message ?? 'ok'}`));
    await turn();
    expect(store.writes).toHaveLength(1); // d waits for the write under way
    store.openGate();
    await committer.drain();
    expect(store.writes).toEqual([['a', 'b', 'c'], ['d']]);
    expect(acks).toEqual(['a:ok', 'b:ok', 'c:ok', 'd:ok']);
    expect(committer.writtenBatchCount).toBe(2);
  });

  it('a retracted operation is not written; once its batch is taken it can no longer be retracted', async () => {
    const store = new GatedStore();
    await store.open();
    const committer = new GroupCommitter(store, () => undefined);
    const b = retained('b');
    committer.add(retained('a'));
    committer.add(b);
    expect(committer.retract(b)).toBe(true);
    await committer.drain();
    expect(store.writes).toEqual([['a']]);
    store.closeGate();
    const c = retained('c');
    committer.add(c);
    await turn();
    expect(committer.retract(c)).toBe(false);
    store.openGate();
    await committer.drain();
    expect(store.writes).toEqual([['a'], ['c']]);
  });
});
