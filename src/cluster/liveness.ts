/**
 * Liveness: which other nodes are alive. Each node beats into midge_nodes every second; a node
 * counts as dead only when three things hold:
 * 1. this node has written its own beats without a gap for a whole lease — while the engine is
 *    electing a leader (4–9 s in 2.9.10) or unreachable, nobody's beats get through, and silence
 *    proves nothing (without this rule a leader election made nodes adopt each other alive);
 * 2. the node has not been heard of for that lease since;
 * 3. it does not answer a ping over core NATS (which does not depend on JetStream), tried a few
 *    times — a live node whose engine server just died reconnects to another within a second.
 * A node that is paused or cut off for longer is adopted; it fences itself when it notices.
 */
import type { Logger } from '../observability/index.js';
import { decodeJson, encodeJson } from './codec.js';
import { BUCKETS, NODE_LEASE_MS, pingSubject, type Engine } from './engine.js';

/** A gap between two successful beats longer than this means the engine stalled for this node. */
const BEAT_GAP_MS = 2500;
const PING_ATTEMPTS = 3;
const PING_TIMEOUT_MS = 1000;
const PING_RETRY_MS = 500;

export class Liveness {
  private readonly lastSeen = new Map<string, number>();
  private readonly startedAt = Date.now();
  /** Since when this node's own beats have succeeded without a gap; undefined while they fail. */
  private healthySince: number | undefined;
  private lastBeatAt: number | undefined;
  private stopWatch: (() => void) | undefined;
  private isAnswering = true;

  constructor(
    private readonly engine: Engine,
    private readonly nodeId: string,
    private readonly boot: number,
    private readonly logger: Logger,
  ) {}

  /** Answers pings and watches midge_nodes; resolves once the watch's initial values are in. */
  async start(): Promise<void> {
    this.engine.nc.subscribe(pingSubject(this.nodeId), {
      callback: (error, msg) => {
        if (error || !this.isAnswering) return;
        msg.respond(encodeJson({ node: this.nodeId, boot: this.boot }));
      },
    });
    const kv = this.engine.bucket(BUCKETS.nodes);
    let markLoaded!: () => void;
    const loaded = new Promise<void>((resolve) => (markLoaded = resolve));
    const iterator = await kv.watch({ key: '>', initializedFn: () => markLoaded() });
    this.stopWatch = () => iterator.stop();
    void (async () => {
      for await (const entry of iterator) {
        if (entry.operation !== 'PUT' || entry.key.startsWith('adopt.')) continue;
        this.lastSeen.set(entry.key, Date.now());
      }
    })();
    await loaded;
  }

  /** This node's own beat: written (at `at`), or failed. */
  noteBeat(isWritten: boolean, at = Date.now()): void {
    if (!isWritten) {
      this.healthySince = undefined;
      return;
    }
    if (this.healthySince === undefined || this.lastBeatAt === undefined || at - this.lastBeatAt > BEAT_GAP_MS) this.healthySince = at;
    this.lastBeatAt = at;
  }

  /** A fenced node stops answering pings: it no longer counts as a member. */
  stopAnswering(): void {
    this.isAnswering = false;
  }

  /** Whether `node` is dead by the three rules above (the ping is tried only when 1 and 2 hold). */
  async isDead(node: string): Promise<boolean> {
    if (node === this.nodeId) return false;
    const now = Date.now();
    if (this.healthySince === undefined || this.lastBeatAt === undefined || now - this.lastBeatAt > BEAT_GAP_MS) return false;
    const silentSince = Math.max(this.lastSeen.get(node) ?? this.startedAt, this.healthySince);
    if (now - silentSince < NODE_LEASE_MS) return false;
    if (await this.answersPing(node)) {
      this.lastSeen.set(node, Date.now());
      this.logger.warn({ silentNode: node }, 'cluster: a node was silent for a lease but answers pings; not adopted');
      return false;
    }
    return true;
  }

  /** Whether `node` answers a ping (`attempts` tries): alive, whatever its beats say. */
  async answersPing(node: string, attempts = PING_ATTEMPTS): Promise<boolean> {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const reply = await this.engine.nc.request(pingSubject(node), encodeJson({ from: this.nodeId }), { timeout: PING_TIMEOUT_MS });
        if (decodeJson<{ node: string }>(reply.data).node === node) return true;
      } catch {
        /* no responders or no answer in time: try again */
      }
      if (attempt < attempts) await new Promise((r) => setTimeout(r, PING_RETRY_MS));
    }
    return false;
  }

  /** An adopted node is forgotten (it comes back, if it does, with a fresh beat). */
  forget(node: string): void {
    this.lastSeen.delete(node);
  }

  stop(): void {
    this.stopWatch?.();
  }
}
