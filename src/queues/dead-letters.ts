/**
 * The dead letters of one queue or connector, kept for replay: an internal persistent session
 * `$dlq/<name>` subscribed to the dead-letter topic holds them in the store (they are never sent
 * anywhere while it is idle). POST /api/v1/dlq/<name>/replay puts each back where it came from —
 * the queue's or connector's own session, or (when that is gone) its original topic — and
 * deletes it here in the same commit order, so a crash in between duplicates, never loses.
 */
import type { BrokerService, ServiceStatus } from '../broker/index.js';
import type { Session, SessionLink } from '../session/index.js';
import type { Message, OutgoingRecord } from '../store/index.js';
import type { QueueHost } from './host.js';

export interface DeadLetterSource {
  /** The queue's or connector's name (the route's `<name>`). */
  name: string;
  /** Where its dead letters are published. */
  topic: string;
  /** The session replayed messages go back into (`$queue/<name>`, `$connector/<name>`). */
  targetSessionId: string;
  maxMessages: number;
  maxBytes: number;
}

export interface DeadLetterStatus extends ServiceStatus {
  kind: 'dead-letters';
  topic: string;
  held: number;
  replayed: number;
}

/** User properties the dead-lettering added (queues and connectors); a replay removes them. */
const ADDED_PROPERTIES = ['reason', 'error', 'deliveries', 'attempts', 'queue', 'connector', 'topic', 'msgid', 'record'];

export class ReplayBusyError extends Error {
  readonly code = 'replay-busy';
}

export class DeadLetterHolder implements BrokerService, SessionLink {
  readonly name: string;
  readonly sessionId: string;
  private session: Session | undefined;
  /** During a replay: how many records the session may still hand over, and those it handed. */
  private replay: { remaining: number; taken: OutgoingRecord[] } | undefined;
  private replayedTotal = 0;

  constructor(
    private readonly host: QueueHost,
    readonly source: DeadLetterSource,
  ) {
    this.name = `dlq:${source.name}`;
    this.sessionId = `$dlq/${source.name}`;
  }

  get status(): DeadLetterStatus {
    return {
      kind: 'dead-letters',
      name: this.source.name,
      topic: this.source.topic,
      isConnected: this.session !== undefined,
      queued: this.held,
      inflight: 0,
      forwarded: this.replayedTotal,
      received: 0,
      held: this.held,
      replayed: this.replayedTotal,
    };
  }

  get held(): number {
    return (this.session?.queuedCount ?? 0) + (this.session?.inflightCount ?? 0);
  }

  async start(): Promise<void> {
    const s = this.source;
    this.session = await this.host.openSession(this.sessionId, [{ filter: s.topic, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 2 }], 'drop-oldest');
    this.session.configureInternal({ limits: { maxInflight: 1000, maxQueuedMessages: s.maxMessages, maxQueuedBytes: s.maxBytes }, isExemptFromReadRules: true });
    this.session.attach(this, 1000);
  }

  async stop(): Promise<void> {
    if (this.session?.isOnline) this.session.detach(this.host.now());
  }

  // --- SessionLink: idle, it takes nothing; during a replay, up to what was held at its start --

  get isWritable(): boolean {
    return this.replay !== undefined && this.replay.remaining > 0;
  }

  sendPublish(record: OutgoingRecord): void {
    const replay = this.replay;
    if (!replay) return; // idle: it takes nothing (isWritable is false)
    replay.remaining--;
    replay.taken.push(record);
  }

  sendPubrel(): void {
    // QoS 1 only.
  }

  /** Re-injects every dead letter held now; resolves with how many once that is committed. */
  async replayAll(): Promise<number> {
    const session = this.session;
    if (!session) return 0;
    if (this.replay) throw new ReplayBusyError(`a replay of ${this.source.name} is under way`);
    // Its session reads the stored dead letters back on start; what arrives during the replay waits for the next one.
    const replay = (this.replay = { remaining: this.held, taken: [] as OutgoingRecord[] });
    let replayed = 0;
    /** Dead letters with no way back (a source's bad record): held again, behind the others. */
    const kept: OutgoingRecord[] = [];
    try {
      const republished: Array<Promise<number>> = [];
      for (;;) {
        session.resume();
        const batch = replay.taken.splice(0);
        if (batch.length === 0) break;
        for (const record of batch) {
          const way = wayBack(record.message);
          const original = originalOf(record.message);
          const target = way === 'owner' ? this.host.session(this.source.targetSessionId) : undefined;
          if (way === 'none') {
            kept.push(record);
            continue;
          }
          // Into the queue's (connector's) own session in the same commit as the delete below,
          // or — a source's command, or its owner gone from the config — to the original topic.
          else if (target) target.deliver(original, 1, false, undefined);
          else republished.push(this.host.publish(original, this.sessionId));
          if (record.packetId !== undefined) session.acknowledge(record.packetId);
          replayed++;
        }
      }
      // Held again behind the others, the copy before the delete (a crash between duplicates);
      // taken by nothing now (isWritable is false), so it is not handed over twice.
      replay.remaining = 0;
      for (const record of kept) {
        session.deliver(record.message, 1, false, undefined);
        if (record.packetId !== undefined) session.acknowledge(record.packetId);
      }
      await Promise.all(republished);
      await this.host.committed();
    } finally {
      this.replay = undefined;
    }
    this.replayedTotal += replayed;
    this.host.logger.info({ deadLetters: this.source.name, replayed, into: this.source.targetSessionId }, 'dead letters replayed');
    return replayed;
  }
}

/**
 * Where a dead letter goes back to: a queue's or a sink's (it carries `msgid` or `queue`) into
 * its owner's session; a source's command (it carries the backend's `record` id and was never in
 * the owner's session: the sink of the same connector must not get it) to its original topic; a
 * source's bad record (no topic it could go to) nowhere — it stays held.
 */
function wayBack(deadLetter: Message): 'owner' | 'topic' | 'none' {
  const user = deadLetter.properties?.userProperties ?? {};
  if (typeof user.record !== 'string') return 'owner';
  return typeof user.topic === 'string' ? 'topic' : 'none';
}

/** The dead letter as first published: its original topic, without the dead-letter properties. */
function originalOf(deadLetter: Message): Message {
  const properties = deadLetter.properties ?? {};
  const user: Record<string, string | string[]> = { ...(properties.userProperties ?? {}) };
  const topic = typeof user.topic === 'string' ? user.topic : deadLetter.topic;
  for (const key of ADDED_PROPERTIES) delete user[key];
  const { userProperties: _dropped, ...rest } = properties;
  const message: Message = { topic, payload: deadLetter.payload, qos: 1, retain: false };
  const kept = Object.keys(user).length > 0 ? { ...rest, userProperties: user } : rest;
  if (Object.keys(kept).length > 0) message.properties = kept;
  if (deadLetter.expiresAt !== undefined) message.expiresAt = deadLetter.expiresAt;
  return message;
}
