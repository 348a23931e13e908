/**
 * The Store of a cluster node: sessions in the midge_sess KV bucket and retained messages in
 * midge_retained, replicated by the engine. Keys: `<cid>.r` record, `<cid>.s.<fh>` subscription,
 * `<cid>.o.<seq>` outgoing, `<cid>.q.<pid>` incoming QoS 2 (cid, fh = hashes).
 *
 * The contract differs from the single-node stores in two ways: a write is ordered and idempotent
 * per key but not atomic across keys (the engine has no multi-key batch before 2.12), and
 * sessions are not loaded at start but when their client connects (`loadStored`).
 */
import {
  decodeOutgoing,
  decodeSession,
  decodeSubscription,
  encodeMessage,
  encodeSession,
  encodeSubscription,
  type Message,
  type OutgoingRecord,
  type SessionRecord,
  type Store,
  type StoredSession,
  type StoreOp,
  type SubscriptionRecord,
} from '../store/index.js';
import { BUCKETS, keyHash, type Engine, type KvWrite } from './engine.js';
import { OutgoingGroups } from './outgoing-groups.js';

export interface LoadedSession extends StoredSession {
  outgoing: OutgoingRecord[];
  incomingQos2: number[];
  /** Routing ids stored with incoming QoS 2 ids (cluster QoS 2). */
  incomingRoutingIds?: Map<number, string>;
}

const appliedKey = (node: string): string => `applied.${node}`;
const seqKey = (seq: number): string => seq.toString(16).padStart(14, '0');

export class ClusterStore implements Store {
  /** What `loadStored` read of incoming QoS 2 ids, handed to loadIncomingQos2 once (they change only while the client is connected). */
  private readonly loadedIncoming = new Map<string, number[]>();
  /** The routing ids stored with them (incomingRoutingIds), by client, from the last read. */
  private readonly readRoutingIds = new Map<string, Map<number, string>>();

  /** Inbox sequences applied since the last write, by inbox node: written after the batch's ops. */
  private appliedMarks = new Map<string, number>();

  /** Outgoing records as one engine write per session and store write (outgoing-groups.ts). */
  private readonly outgoing = new OutgoingGroups((cid, seq) => `${cid}.o.${seqKey(seq)}`);

  constructor(private readonly engine: Engine) {}

  /**
   * Records that inbox message `seq` of `node` is applied by the ops of the batch now pending.
   * The mark goes into the same stream after them, so once it is stored so are they: a redelivery
   * of that inbox message (after a crash before its ack) is recognised and skipped, which keeps
   * QoS 2 deliveries exactly once.
   */
  noteApplied(node: string, seq: number): void {
    if ((this.appliedMarks.get(node) ?? 0) < seq) this.appliedMarks.set(node, seq);
  }

  /** The highest inbox sequence of `node` whose effects are stored (0 when none). */
  async appliedUpTo(node: string): Promise<number> {
    const entry = await this.engine.bucket(BUCKETS.sessions).get(appliedKey(node));
    if (!entry || entry.operation !== 'PUT') return 0;
    return Number(Buffer.from(entry.value).toString()) || 0;
  }

  async open(): Promise<void> {
    await this.engine.connect();
  }

  async close(): Promise<void> {
    await this.engine.close();
  }

  async write(ops: readonly StoreOp[]): Promise<void> {
    // A session purge is a call of its own: the writes before it are stored first, the ones
    // after it after it. Within a segment the last write of a key wins (a resend after a
    // timeout must not put an older value over a newer one).
    let segment = new Map<string, KvWrite>();
    const flush = async (): Promise<void> => {
      for (const write of this.outgoing.take()) put(BUCKETS.sessions, write.key, write.value);
      if (segment.size === 0) return;
      const writes = [...segment.values()];
      segment = new Map();
      await this.engine.writeKv(writes);
    };
    const put = (bucket: string, key: string, value: Uint8Array | undefined): void => {
      const id = `${bucket}/${key}`;
      segment.delete(id); // keep the order of the last write
      segment.set(id, { bucket, key, value });
    };
    const marks = this.appliedMarks;
    this.appliedMarks = new Map();
    for (const op of ops) {
      switch (op.type) {
        case 'putSession':
          put(BUCKETS.sessions, `${keyHash(op.session.clientId)}.r`, encodeSession(op.session));
          break;
        case 'deleteSession':
          await flush();
          await this.engine.purgePrefix(BUCKETS.sessions, keyHash(op.clientId));
          this.outgoing.forget(keyHash(op.clientId));
          break;
        case 'putSubscription':
          put(BUCKETS.sessions, `${keyHash(op.clientId)}.s.${keyHash(op.subscription.filter)}`, encodeSubscription(op.subscription));
          break;
        case 'deleteSubscription':
          put(BUCKETS.sessions, `${keyHash(op.clientId)}.s.${keyHash(op.filter)}`, undefined);
          break;
        case 'putOutgoing':
          this.outgoing.put(keyHash(op.clientId), op.record);
          break;
        case 'deleteOutgoing':
          this.outgoing.delete(keyHash(op.clientId), op.seq);
          break;
        case 'putIncomingQos2':
          // The value is the message's routing id (cluster QoS 2 routes under it), or a placeholder.
          put(BUCKETS.sessions, `${keyHash(op.clientId)}.q.${op.packetId.toString(16)}`, op.routingId === undefined ? new Uint8Array([1]) : Buffer.from(op.routingId));
          break;
        case 'deleteIncomingQos2':
          put(BUCKETS.sessions, `${keyHash(op.clientId)}.q.${op.packetId.toString(16)}`, undefined);
          break;
        case 'putRetained':
          put(BUCKETS.retained, keyHash(op.message.topic), encodeMessage(op.message));
          break;
        case 'deleteRetained':
          put(BUCKETS.retained, keyHash(op.topic), undefined);
          break;
      }
    }
    // The outgoing groups before the marks: a mark stored says its inbox batch's effects are.
    for (const write of this.outgoing.take()) put(BUCKETS.sessions, write.key, write.value);
    for (const [node, seq] of marks) put(BUCKETS.sessions, appliedKey(node), Buffer.from(String(seq)));
    await flush();
    // Stored; acknowledged only under a valid lease (a purge alone does not pass writeKv).
    await this.engine.leaseHeld();
  }

  /** Sessions load when their client connects (or their node is adopted), not at start. */
  async loadSessions(): Promise<StoredSession[]> {
    return [];
  }

  /** Retained messages arrive through the cluster's watch of midge_retained. */
  async loadRetained(): Promise<Message[]> {
    return [];
  }

  /** Reads one session whole; undefined when the engine holds none for the id. */
  async loadStored(clientId: string): Promise<LoadedSession | undefined> {
    const stored = await this.readStored(clientId);
    if (stored) this.loadedIncoming.set(clientId, stored.incomingQos2);
    if (stored?.incomingRoutingIds) this.readRoutingIds.set(clientId, stored.incomingRoutingIds);
    else this.readRoutingIds.delete(clientId);
    return stored;
  }

  private async readStored(clientId: string): Promise<LoadedSession | undefined> {
    const cid = keyHash(clientId);
    const values = await this.engine.readPrefix(BUCKETS.sessions, `${cid}.>`);
    let session: SessionRecord | undefined;
    const subscriptions: SubscriptionRecord[] = [];
    const single: OutgoingRecord[] = [];
    const groups = new Map<string, Buffer>();
    const endedLists = new Map<string, Buffer>();
    const incomingQos2: number[] = [];
    let routingIds: Map<number, string> | undefined;
    for (const [key, value] of values) {
      const buffer = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      const kind = key.slice(cid.length + 1, cid.length + 2);
      const tail = key.slice(cid.length + 3);
      if (kind === 'r') session = decodeSession(key, buffer);
      else if (kind === 's') subscriptions.push(decodeSubscription(key, buffer));
      else if (kind === 'o') single.push(decodeOutgoing(key, buffer));
      else if (kind === 'g') groups.set(tail, buffer);
      else if (kind === 'x') endedLists.set(tail, buffer);
      else if (kind === 'q') {
        const packetId = parseInt(tail, 16);
        incomingQos2.push(packetId);
        // Written before its message was routed: a resend routes it again under this id.
        if (buffer.length > 1) (routingIds ??= new Map()).set(packetId, buffer.toString('utf8'));
      }
    }

    if (!session) {
      this.outgoing.noSession(cid);
      return undefined;
    }
    const outgoing = this.outgoing.loaded(cid, groups, endedLists, single);
    outgoing.sort((a, b) => a.seq - b.seq);
    const last = outgoing[outgoing.length - 1];
    const loaded: LoadedSession = { session, subscriptions, outgoing, incomingQos2, outgoingCount: outgoing.length, nextOutgoingSeq: last ? last.seq + 1 : 1 };
    if (routingIds) loaded.incomingRoutingIds = routingIds;
    return loaded;
  }

  /**
   * Read fresh every time, never from what loadStored read: deliveries stored for the session
   * since (held while it was unloaded, or a second CONNECT's read racing an adoption's) must be
   * in it, and the journal calls this only after their commit.
   */
  async loadOutgoing(clientId: string): Promise<OutgoingRecord[]> {
    return (await this.readStored(clientId))?.outgoing ?? [];
  }

  /** The routing ids read with the incoming QoS 2 ids (handed over once; see IncomingQos2Ids). */
  incomingRoutingIds(clientId: string): ReadonlyMap<number, string> | undefined {
    const ids = this.readRoutingIds.get(clientId);
    this.readRoutingIds.delete(clientId);
    return ids;
  }

  async loadIncomingQos2(clientId: string): Promise<number[]> {
    const loaded = this.loadedIncoming.get(clientId);
    if (loaded) {
      this.loadedIncoming.delete(clientId);
      return loaded;
    }
    const stored = await this.readStored(clientId);
    if (stored?.incomingRoutingIds) this.readRoutingIds.set(clientId, stored.incomingRoutingIds);
    return stored?.incomingQos2 ?? [];
  }
}
