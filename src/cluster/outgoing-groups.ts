/**
 * A session's outgoing records in the engine as groups, not one KV key each. Every delivery to a
 * persistent session was a KV put and, once acknowledged, a KV delete: two R3 writes per message,
 * which made the engine (and the node's ack handling) the cost of a cross-node QoS 1 stream. Now
 * the records a session gets in one store write go into one key, `<cid>.g.<gid>`; the ones of a
 * group that ended (acknowledged, replaced, moved) are listed in `<cid>.x.<gid>.<writer>` (seq ranges), and
 * once all of a group's records ended its keys are deleted. Each node writes an ended list of its
 * own, `<cid>.x.<gid>.<writer>`, and a read takes the union: a node still finishing its writes
 * when the session moved cannot put its older list over the new owner's. A store write costs one engine write
 * per session and group it touches, whatever the number of messages.
 *
 * Rules that keep a stored record from coming back once it ended:
 * - a record put again (a state change) goes into the new group and is marked ended in its old
 *   one, written after the new group (a crash between: it is live in both, the newer group wins
 *   on load and the load marks the older copy ended);
 * - group ids grow (time, then a counter), so "newer" is known across nodes;
 * - what this node knows ended stays ended (marks only grow, a group id is never reused), and
 *   no node's list is ever written by another.
 * Records written one key each (`<cid>.o.<seq>`, before groups) are still read and deleted.
 */
import { randomBytes } from 'node:crypto';
import { decodeOutgoing, encodeOutgoing, CorruptRecordError, type OutgoingRecord } from '../store/index.js';

/** A group key's value is kept well under the engine's max_payload (1 MiB). */
const MAX_GROUP_BYTES = 256 * 1024;
/** Deleted group ids remembered per session (a read racing the delete must not revive it). */
const MAX_DEAD_GROUPS = 256;

interface GroupState {
  live: Set<number>;
  /** The records this node ended: its own ended list's content. */
  endedHere: Set<number>;
  /** Ended lists known to exist for the group (this node's, other nodes' read): deleted with it. */
  endedKeys: Set<string>;
}

interface ClientGroups {
  groups: Map<string, GroupState>;
  /** seq → the group holding its live copy. */
  where: Map<number, string>;
  /** Records stored one key each (the layout before groups). */
  single: Set<number>;
  dead: Set<string>;
}

interface PendingGroup {
  gid: string;
  records: Map<number, Buffer>;
  bytes: number;
}

/** One KV write of the sessions bucket: key under the session, value undefined to delete. */
export interface GroupWrite {
  key: string;
  value: Uint8Array | undefined;
}

export function encodeGroup(records: Iterable<Buffer>): Buffer {
  const parts: Buffer[] = [];
  let count = 0;
  for (const record of records) {
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(record.length);
    parts.push(length, record);
    count++;
  }
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(count);
  return Buffer.concat([head, ...parts]);
}

export function decodeGroup(key: string, value: Buffer): OutgoingRecord[] {
  if (value.length < 4) throw new CorruptRecordError(key, 'truncated group');
  const count = value.readUInt32BE(0);
  const records: OutgoingRecord[] = [];
  let offset = 4;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > value.length) throw new CorruptRecordError(key, 'truncated group');
    const length = value.readUInt32BE(offset);
    offset += 4;
    if (offset + length > value.length) throw new CorruptRecordError(key, 'truncated group');
    records.push(decodeOutgoing(key, value.subarray(offset, offset + length)));
    offset += length;
  }
  return records;
}

/** Ended seqs as [first, last] ranges (acknowledgements mostly come in order: one range). */
export function encodeEnded(ended: ReadonlySet<number>): Buffer {
  const sorted = [...ended].sort((a, b) => a - b);
  const ranges: Array<[number, number]> = [];
  for (const seq of sorted) {
    const last = ranges[ranges.length - 1];
    if (last && seq === last[1] + 1) last[1] = seq;
    else ranges.push([seq, seq]);
  }
  const out = Buffer.allocUnsafe(ranges.length * 16);
  ranges.forEach(([first, last], i) => {
    out.writeDoubleBE(first, i * 16);
    out.writeDoubleBE(last, i * 16 + 8);
  });
  return out;
}

export function decodeEnded(key: string, value: Buffer): Set<number> {
  if (value.length % 16 !== 0) throw new CorruptRecordError(key, 'truncated ended list');
  const ended = new Set<number>();
  for (let at = 0; at < value.length; at += 16) {
    const first = value.readDoubleBE(at);
    const last = value.readDoubleBE(at + 8);
    for (let seq = first; seq <= last; seq++) ended.add(seq);
  }
  return ended;
}

export class OutgoingGroups {
  private readonly clients = new Map<string, ClientGroups>();
  private pending = new Map<string, PendingGroup[]>();
  /** `cid` → group ids whose ended list (or end) is to be written. */
  private touched = new Map<string, Set<string>>();
  private singleDeletes: Array<{ cid: string; seq: number }> = [];
  private lastMs = 0;
  private counter = 0;
  private readonly origin: string;

  constructor(
    /** The key of a record stored alone (the layout before groups). */
    private readonly singleKey: (cid: string, seq: number) => string,
    origin = randomBytes(3).toString('hex'),
    private readonly now: () => number = Date.now,
  ) {
    this.origin = origin;
  }

  /** Ids sort by creation: milliseconds, then a counter, then the node's random origin. */
  private newGroupId(): string {
    const ms = Math.max(this.now(), this.lastMs);
    if (ms !== this.lastMs) this.counter = 0;
    this.lastMs = ms;
    return `${ms.toString(36).padStart(9, '0')}${(this.counter++).toString(36).padStart(4, '0')}${this.origin}`;
  }

  private client(cid: string): ClientGroups {
    let client = this.clients.get(cid);
    if (!client) this.clients.set(cid, (client = { groups: new Map(), where: new Map(), single: new Set(), dead: new Set() }));
    return client;
  }

  private end(cid: string, client: ClientGroups, gid: string, seq: number): void {
    const group = client.groups.get(gid);
    if (!group) return;
    group.live.delete(seq);
    group.endedHere.add(seq);
    let touched = this.touched.get(cid);
    if (!touched) this.touched.set(cid, (touched = new Set()));
    touched.add(gid);
  }

  private pendingGroupOf(cid: string, gid: string): PendingGroup | undefined {
    return this.pending.get(cid)?.find((group) => group.gid === gid);
  }

  put(cid: string, record: OutgoingRecord): void {
    const client = this.client(cid);
    const seq = record.seq;
    const previous = client.where.get(seq);
    if (previous !== undefined) {
      const waiting = this.pendingGroupOf(cid, previous);
      if (waiting) {
        waiting.bytes -= waiting.records.get(seq)?.length ?? 0;
        waiting.records.delete(seq);
      } else this.end(cid, client, previous, seq);
    }
    if (client.single.delete(seq)) this.singleDeletes.push({ cid, seq });
    let groups = this.pending.get(cid);
    if (!groups) this.pending.set(cid, (groups = []));
    let group = groups[groups.length - 1];
    const encoded = encodeOutgoing(record);
    if (!group || (group.bytes > 0 && group.bytes + encoded.length > MAX_GROUP_BYTES)) groups.push((group = { gid: this.newGroupId(), records: new Map(), bytes: 0 }));
    group.records.set(seq, encoded);
    group.bytes += encoded.length;
    client.where.set(seq, group.gid);
  }

  delete(cid: string, seq: number): void {
    const client = this.clients.get(cid);
    const gid = client?.where.get(seq);
    if (client && gid !== undefined) {
      client.where.delete(seq);
      const waiting = this.pendingGroupOf(cid, gid);
      if (waiting) {
        waiting.bytes -= waiting.records.get(seq)?.length ?? 0;
        waiting.records.delete(seq);
      } else this.end(cid, client, gid, seq);
      return;
    }
    // Not known in a group: stored alone (or unknown, as before groups): its own key is deleted.
    client?.single.delete(seq);
    this.singleDeletes.push({ cid, seq });
  }

  /** The session's keys were purged: nothing of it is known any more. */
  forget(cid: string): void {
    this.clients.delete(cid);
    this.pending.delete(cid);
    this.touched.delete(cid);
    this.singleDeletes = this.singleDeletes.filter((d) => d.cid !== cid);
  }

  /**
   * The writes for what was put and deleted since the last call, in the order they must be
   * stored: new groups, then single-key deletes, then ended lists and group deletes.
   */
  take(): GroupWrite[] {
    const writes: GroupWrite[] = [];
    for (const [cid, groups] of this.pending) {
      const client = this.client(cid);
      for (const group of groups) {
        if (group.records.size === 0) continue;
        writes.push({ key: `${cid}.g.${group.gid}`, value: encodeGroup(group.records.values()) });
        client.groups.set(group.gid, { live: new Set(group.records.keys()), endedHere: new Set(), endedKeys: new Set() });
      }
    }
    this.pending = new Map();
    for (const { cid, seq } of this.singleDeletes) writes.push({ key: this.singleKey(cid, seq), value: undefined });
    this.singleDeletes = [];
    for (const [cid, gids] of this.touched) {
      const client = this.clients.get(cid);
      if (!client) continue;
      for (const gid of gids) {
        const group = client.groups.get(gid);
        if (!group) continue;
        if (group.live.size === 0) {
          writes.push({ key: `${cid}.g.${gid}`, value: undefined });
          for (const key of group.endedKeys) writes.push({ key, value: undefined });
          client.groups.delete(gid);
          client.dead.add(gid);
          if (client.dead.size > MAX_DEAD_GROUPS) client.dead.delete(client.dead.values().next().value!);
        } else {
          const key = `${cid}.x.${gid}.${this.origin}`;
          writes.push({ key, value: encodeEnded(group.endedHere) });
          group.endedKeys.add(key);
        }
      }
    }
    this.touched = new Map();
    return writes;
  }

  /**
   * A read of the session: its groups, their ended lists and its single records, merged with what
   * this node knows (which only ever adds ended records). Returns the live records, each once.
   * A record live in two groups (a crash between a re-put and its old group's mark) is taken
   * from the newer one and marked ended in the older, written with the next store write.
   */
  loaded(cid: string, groups: Map<string, Buffer>, endedLists: Map<string, Buffer>, single: OutgoingRecord[]): OutgoingRecord[] {
    const client = this.client(cid);
    // The ended lists by group: `<gid>.<writer>` → their union.
    const endedByGroup = new Map<string, { ended: Set<number>; keys: string[] }>();
    for (const [tail, value] of endedLists) {
      const dot = tail.indexOf('.');
      const gid = dot < 0 ? tail : tail.slice(0, dot);
      let entry = endedByGroup.get(gid);
      if (!entry) endedByGroup.set(gid, (entry = { ended: new Set(), keys: [] }));
      for (const seq of decodeEnded(tail, value)) entry.ended.add(seq);
      entry.keys.push(`${cid}.x.${tail}`);
    }
    const read = new Map<string, OutgoingRecord[]>();
    for (const [gid, value] of groups) {
      if (client.dead.has(gid)) continue; // deleted here after the read's snapshot
      const records = decodeGroup(gid, value);
      read.set(gid, records);
      const readEnded = endedByGroup.get(gid);
      let state = client.groups.get(gid);
      if (!state) {
        state = { live: new Set(), endedHere: new Set(), endedKeys: new Set(readEnded?.keys) };
        client.groups.set(gid, state);
        for (const record of records) if (!readEnded?.ended.has(record.seq)) state.live.add(record.seq);
      } else if (readEnded) {
        for (const seq of readEnded.ended) state.live.delete(seq);
        for (const key of readEnded.keys) state.endedKeys.add(key);
      }
    }
    // Where each record lives now: the newest group holding it live (this node's pending ones
    // included); older live copies are ended.
    const holders = new Map<number, string[]>();
    const hold = (seq: number, gid: string): void => {
      const list = holders.get(seq);
      if (list) list.push(gid);
      else holders.set(seq, [gid]);
    };
    for (const [gid, state] of client.groups) for (const seq of state.live) hold(seq, gid);
    for (const group of this.pending.get(cid) ?? []) for (const seq of group.records.keys()) hold(seq, group.gid);
    client.where.clear();
    for (const [seq, gids] of holders) {
      const newest = gids.reduce((a, b) => (a > b ? a : b));
      client.where.set(seq, newest);
      for (const gid of gids) {
        if (gid === newest) continue;
        const waiting = this.pendingGroupOf(cid, gid);
        if (waiting) waiting.records.delete(seq);
        else this.end(cid, client, gid, seq);
      }
    }
    const out: OutgoingRecord[] = [];
    for (const record of single) {
      if (client.where.has(record.seq)) {
        // A group holds a newer copy: the single key goes.
        this.singleDeletes.push({ cid, seq: record.seq });
        continue;
      }
      client.single.add(record.seq);
      out.push(record);
    }
    // Records of groups only this node holds (written after the read's snapshot) are not read
    // back, as a single key written then would not be.
    for (const [gid, records] of read) for (const record of records) if (client.where.get(record.seq) === gid) out.push(record);
    return out;
  }

  /** The session has no record in the engine: nothing of it is known. */
  noSession(cid: string): void {
    if (!this.pending.has(cid) && !this.touched.has(cid)) this.clients.delete(cid);
  }
}
