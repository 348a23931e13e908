/** Outgoing records stored in groups (src/cluster/outgoing-groups.ts), against a map standing in for the KV bucket. */
import { describe, expect, it } from 'vitest';
import { OutgoingGroups, type GroupWrite } from '../../src/cluster/outgoing-groups.js';
import { encodeOutgoing, type OutgoingRecord } from '../../src/store/index.js';

const CID = 'c1';
const singleKey = (cid: string, seq: number): string => `${cid}.o.${seq}`;

function record(seq: number, state: OutgoingRecord['state'] = 'queued', payload = Buffer.from(`m${seq}`)): OutgoingRecord {
  const r: OutgoingRecord = { seq, message: { topic: 't/a', payload, qos: 1, retain: false }, qos: 1, retain: false, state };
  if (state !== 'queued') r.packetId = seq;
  return r;
}

class Kv {
  readonly keys = new Map<string, Uint8Array>();
  apply(writes: GroupWrite[]): void {
    for (const w of writes) {
      if (w.value === undefined) this.keys.delete(w.key);
      else this.keys.set(w.key, w.value);
    }
  }
  /** What ClusterStore.readStored hands to `loaded`. */
  load(groups: OutgoingGroups, cid = CID): OutgoingRecord[] {
    const g = new Map<string, Buffer>();
    const x = new Map<string, Buffer>();
    const single: OutgoingRecord[] = [];
    for (const [key, value] of this.keys) {
      const [owner, kind, ...rest] = key.split('.') as [string, string, ...string[]];
      const tail = rest.join('.');
      if (owner !== cid) continue;
      if (kind === 'g') g.set(tail, Buffer.from(value));
      else if (kind === 'x') x.set(tail, Buffer.from(value));
      else if (kind === 'o') single.push({ ...record(Number(tail)) });
    }
    return groups.loaded(cid, g, x, single).sort((a, b) => a.seq - b.seq);
  }
}

let clock = 1_000;
const newNode = (origin: string): OutgoingGroups => new OutgoingGroups(singleKey, origin, () => clock++);

describe('outgoing records in groups', () => {
  it('writes one key per store write, however many records, and removes it once all ended', () => {
    const kv = new Kv();
    const node = newNode('aa');
    for (let seq = 1; seq <= 100; seq++) node.put(CID, record(seq));
    const first = node.take();
    expect(first).toHaveLength(1);
    kv.apply(first);
    for (let seq = 1; seq <= 40; seq++) node.delete(CID, seq);
    const second = node.take();
    // One ended list (a single range), not 40 deletes.
    expect(second.map((w) => w.key.split('.')[1])).toEqual(['x']);
    expect(second[0]!.value!.length).toBe(16);
    kv.apply(second);
    expect(kv.load(newNode('bb')).map((r) => r.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 41));
    for (let seq = 41; seq <= 100; seq++) node.delete(CID, seq);
    kv.apply(node.take());
    expect(kv.keys.size).toBe(0);
  });

  it('writes nothing for a record put and ended within one store write', () => {
    const node = newNode('aa');
    node.put(CID, record(1));
    node.delete(CID, 1);
    expect(node.take()).toEqual([]);
  });

  it('a record put again moves to the new group and ends in the old one: read back once, in its latest state', () => {
    const kv = new Kv();
    const node = newNode('aa');
    node.put(CID, record(1));
    node.put(CID, record(2));
    kv.apply(node.take());
    node.put(CID, record(1, 'sent'));
    const writes = node.take();
    // The new group is written before the old one's ended list.
    expect(writes.map((w) => w.key.split('.')[1])).toEqual(['g', 'x']);
    kv.apply(writes);
    const loaded = kv.load(newNode('bb'));
    expect(loaded.map((r) => [r.seq, r.state])).toEqual([
      [1, 'sent'],
      [2, 'queued'],
    ]);
  });

  it('a crash between a new group and the old group\'s ended list: the newer copy wins and the older is ended by the next write', () => {
    const kv = new Kv();
    const a = newNode('aa');
    a.put(CID, record(1));
    kv.apply(a.take());
    a.put(CID, record(1, 'sent'));
    kv.apply(a.take().slice(0, 1)); // only the new group reached the engine
    const b = newNode('bb');
    expect(kv.load(b).map((r) => [r.seq, r.state])).toEqual([[1, 'sent']]);
    b.delete(CID, 1);
    kv.apply(b.take());
    // Had the older copy not been ended, the record would come back now.
    expect(kv.load(newNode('cc'))).toEqual([]);
    expect(kv.keys.size).toBe(0);
  });

  it('two nodes ending records of one group each write their own list: a late write of the old owner cannot revive what the new one ended', () => {
    const kv = new Kv();
    const a = newNode('aa');
    for (let seq = 1; seq <= 4; seq++) a.put(CID, record(seq));
    kv.apply(a.take());
    const b = newNode('bb');
    kv.load(b); // the session moved to b
    b.delete(CID, 3);
    b.delete(CID, 4);
    kv.apply(b.take());
    a.delete(CID, 1); // the old owner's last write, stored after b's
    kv.apply(a.take());
    expect(kv.load(newNode('cc')).map((r) => r.seq)).toEqual([2]);
    b.delete(CID, 2);
    b.delete(CID, 1);
    kv.apply(b.take());
    expect(kv.load(newNode('dd'))).toEqual([]);
  });

  it('a node that read the session from another ends its records in the other node\'s groups', () => {
    const kv = new Kv();
    const a = newNode('aa');
    for (let seq = 1; seq <= 5; seq++) a.put(CID, record(seq));
    kv.apply(a.take());
    const b = newNode('bb');
    expect(kv.load(b)).toHaveLength(5);
    b.delete(CID, 2);
    b.put(CID, record(6));
    kv.apply(b.take());
    expect(kv.load(newNode('cc')).map((r) => r.seq)).toEqual([1, 3, 4, 5, 6]);
    for (const seq of [1, 3, 4, 5, 6]) b.delete(CID, seq);
    kv.apply(b.take());
    expect(kv.keys.size).toBe(0);
  });

  it('records stored one key each (before groups) are read and deleted by their own key', () => {
    const kv = new Kv();
    kv.keys.set(singleKey(CID, 1), encodeOutgoing(record(1)));
    kv.keys.set(singleKey(CID, 2), encodeOutgoing(record(2)));
    const node = newNode('aa');
    expect(kv.load(node).map((r) => r.seq)).toEqual([1, 2]);
    node.delete(CID, 1);
    node.put(CID, record(2, 'sent'));
    kv.apply(node.take());
    expect([...kv.keys.keys()].some((k) => k.includes('.o.'))).toBe(false);
    expect(kv.load(newNode('bb')).map((r) => [r.seq, r.state])).toEqual([[2, 'sent']]);
  });

  it('keeps each group under the engine\'s payload limit', () => {
    const node = newNode('aa');
    const big = Buffer.alloc(100 * 1024, 1);
    for (let seq = 1; seq <= 10; seq++) node.put(CID, record(seq, 'queued', big));
    const writes = node.take();
    expect(writes.length).toBeGreaterThanOrEqual(4);
    for (const w of writes) expect(w.value!.length).toBeLessThan(300 * 1024);
    const kv = new Kv();
    kv.apply(writes);
    expect(kv.load(newNode('bb'))).toHaveLength(10);
  });

  it('after a purge nothing of the session is known: a new session\'s records start afresh', () => {
    const kv = new Kv();
    const node = newNode('aa');
    node.put(CID, record(1));
    kv.apply(node.take());
    kv.keys.clear(); // purgePrefix
    node.forget(CID);
    node.put(CID, record(1, 'sent'));
    const writes = node.take();
    expect(writes.map((w) => w.key.split('.')[1])).toEqual(['g']);
    kv.apply(writes);
    expect(kv.load(newNode('bb')).map((r) => [r.seq, r.state])).toEqual([[1, 'sent']]);
  });
});
