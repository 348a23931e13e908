/**
 * Ownership of client ids: `midge_owner[<cid>]` → {clientId, node}; the KV revision is the epoch.
 * A CONNECT asks the current owner to release the session, then compare-and-sets the record to
 * its own node: of two CONNECTs racing for one id, exactly one write succeeds.
 */
import { decodeJson, encodeJson } from './codec.js';
import { BUCKETS, EngineError, keyHash, releaseSubject, type Engine } from './engine.js';

export interface OwnerRecord {
  clientId: string;
  node: string;
  since: number;
  /**
   * Dead nodes this session was adopted from since its client last connected: their inboxes may
   * still hold deliveries for it (an adopter that died mid-way hands them on with the session).
   */
  from?: string[];
}

export interface ClaimResult {
  isOwner: boolean;
  previousNode: string | undefined;
  /** The owner did not answer the release request (no responders): it is gone and must be adopted first. */
  deadNode?: string;
}

/** How long the old owner may take to hand a session over (its inbox, or an adoption, drained first). */
const RELEASE_TIMEOUT_MS = 60_000;

export class Ownership {
  constructor(
    private readonly engine: Engine,
    private readonly nodeId: string,
  ) {}

  /** Engine errors (an election under way) are retried briefly; a lost compare-and-set is not. */
  async claim(clientId: string, isCleanStart = false): Promise<ClaimResult> {
    return this.engine.retry(`claim ${clientId}`, () => this.claimOnce(clientId, isCleanStart), 10);
  }

  private async claimOnce(clientId: string, isCleanStart: boolean): Promise<ClaimResult> {
    const kv = this.engine.bucket(BUCKETS.owner);
    const key = keyHash(clientId);
    let entry = await kv.get(key);
    const current = entry && entry.operation === 'PUT' ? decodeJson<OwnerRecord>(entry.value) : undefined;
    if (current && current.node !== this.nodeId) {
      if (!(await this.requestRelease(current.node, clientId, isCleanStart))) return { isOwner: false, previousNode: current.node, deadNode: current.node };
      // The owner released the session to this node; it may have rewritten its record meanwhile
      // (its own CONNECT of the id, settled before the release): the compare-and-set is against
      // the record as it is now, provided it still names the node that released. (Against the
      // revision read before, that CONNECT made this claim lose with the session released:
      // nobody held it, and what followed it here was lost.)
      const after = await kv.get(key);
      const now = after && after.operation === 'PUT' ? decodeJson<OwnerRecord>(after.value) : undefined;
      if (!after || now?.node !== current.node) return { isOwner: false, previousNode: now?.node ?? current.node };
      entry = after;
    }
    // A live owner that released the session drained its inbox into it first; otherwise the
    // session still has deliveries owed from the dead nodes it was adopted from.
    const hasReleased = current !== undefined && current.node !== this.nodeId;
    const record: OwnerRecord = { clientId, node: this.nodeId, since: Date.now() };
    if (!hasReleased && current?.from) record.from = current.from;
    const value = encodeJson(record);
    try {
      if (entry) await kv.update(key, value, entry.revision);
      else await kv.create(key, value);
    } catch (error) {
      if (!/wrong last sequence|key exists/i.test((error as Error).message)) throw error;
      // Lost the compare-and-set. To another CONNECT of the id on this same node (a client that
      // reconnected while its first claim waited), the id is still this node's: refused, the
      // newest connection would be the one turned away (and many clients do not retry a refusal).
      const after = await kv.get(key);
      const winner = after && after.operation === 'PUT' ? decodeJson<OwnerRecord>(after.value).node : undefined;
      return { isOwner: winner === this.nodeId, previousNode: current?.node };
    }
    return { isOwner: true, previousNode: current?.node };
  }

  /** The old owner closes the client's connection and lets its session go; a dead node answers nothing. */
  private async requestRelease(node: string, clientId: string, isCleanStart: boolean): Promise<boolean> {
    try {
      // `node`: deliveries that still reach the old owner follow the session here (handoff.ts).
      await this.engine.nc.request(releaseSubject(node), encodeJson({ clientId, node: this.nodeId, isCleanStart }), { timeout: RELEASE_TIMEOUT_MS });
      return true;
    } catch (error) {
      const message = (error as Error).message;
      // No responders: the node is gone; its sessions are in the engine as it last wrote them.
      if (/503|no responders/i.test(message) || (error as { code?: string }).code === '503') return false;
      throw new EngineError('timeout', `node ${node} did not release ${JSON.stringify(clientId)}: ${message}`);
    }
  }

  /** The adopter's compare-and-set: the session becomes this node's only if `from` still owns it. */
  /** Returns the dead nodes the session now counts as adopted from, or undefined when not taken. */
  async takeFrom(clientId: string, from: string): Promise<string[] | undefined> {
    const kv = this.engine.bucket(BUCKETS.owner);
    const key = keyHash(clientId);
    const entry = await kv.get(key);
    if (!entry || entry.operation !== 'PUT') return undefined;
    const previous = decodeJson<OwnerRecord>(entry.value);
    if (previous.node !== from) return undefined;
    const origins = [...new Set([...(previous.from ?? []), from])];
    try {
      await kv.update(key, encodeJson({ clientId, node: this.nodeId, since: Date.now(), from: origins } satisfies OwnerRecord), entry.revision);
      return origins;
    } catch {
      return undefined;
    }
  }

  /** Client ids this node owns whose sessions came (through adoptions) from `dead`. */
  async adoptedHereFrom(dead: string): Promise<string[]> {
    const values = await this.engine.readPrefix(BUCKETS.owner, '>');
    const ids: string[] = [];
    for (const value of values.values()) {
      const record = decodeJson<OwnerRecord>(value);
      if (record.node === this.nodeId && record.from?.includes(dead)) ids.push(record.clientId);
    }
    return ids;
  }

  /** The node the owner record names for `clientId` (undefined when none). */
  async ownerOf(clientId: string): Promise<string | undefined> {
    const entry = await this.engine.bucket(BUCKETS.owner).get(keyHash(clientId));
    return entry && entry.operation === 'PUT' ? decodeJson<OwnerRecord>(entry.value).node : undefined;
  }

  /** Client ids whose owner record names `node`. */
  async ownedBy(node: string): Promise<string[]> {
    const values = await this.engine.readPrefix(BUCKETS.owner, '>');
    const owned: string[] = [];
    for (const value of values.values()) {
      const record = decodeJson<OwnerRecord>(value);
      if (record.node === node) owned.push(record.clientId);
    }
    return owned;
  }
}
