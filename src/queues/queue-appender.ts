/**
 * The capture side of a cluster queue: messages published on this node that match the queue's
 * topics are appended to its stream with the commit batch of their turn — a commit sink, so the
 * publisher's PUBACK waits for the stream's ack as it waits for the store.
 */
import { encodeMessage, type CommitSink, type Message } from '../store/index.js';
import { SubscriptionTrie } from '../topics/index.js';
import type { ClusterQueueHost, QueueEngineQueue } from './queue-engine.js';

export class QueueAppender implements CommitSink {
  /** The queue's topics, matched once per publish on this node. */
  private readonly topics = new SubscriptionTrie<true>();
  /** Captured since the last batch was taken. */
  private pending: Array<{ data: Uint8Array; id: string }> = [];
  private queue: QueueEngineQueue | undefined;
  private lastId = 0;
  private readonly bootId = Date.now().toString(36);

  constructor(
    private readonly nodeId: string,
    topics: readonly string[],
    /** The queue's own publisher id: its dead letters never loop back (No Local). */
    private readonly ownId: string,
    /** A message the stream refused at its bound (overflow drop-newest or reject). */
    private readonly onFull: () => void,
  ) {
    for (const filter of topics) this.topics.add(filter, filter, true);
  }

  /** The stream is open: this sink joins the commit batches (and what was captured before goes). */
  open(queue: QueueEngineQueue, host: ClusterQueueHost): void {
    this.queue = queue;
    host.addCommitSink(this);
    if (this.pending.length > 0) host.notePending();
  }

  /** A unique append id (a resend with the same one is dropped by the stream). */
  nextId(): string {
    return `${this.nodeId}:${this.bootId}:${++this.lastId}`;
  }

  capture(message: Message, publisherId: string | undefined, host: ClusterQueueHost): number {
    if (publisherId === this.ownId || this.topics.match(message.topic).length === 0) return 0;
    this.pending.push({ data: encodeMessage({ ...message, retain: false }), id: this.nextId() });
    host.notePending();
    return 1;
  }

  hasPending(): boolean {
    // Captured before the stream opened (a will published during an adoption): it waits for open().
    return this.pending.length > 0 && this.queue !== undefined;
  }

  takeBatch(): (() => Promise<void>) | undefined {
    const queue = this.queue;
    if (this.pending.length === 0 || !queue) return undefined;
    const items = this.pending;
    this.pending = [];
    return async () => {
      const outcomes = await queue.publish(items);
      // Refused at the bound: counted, not retried.
      for (const outcome of outcomes) if (outcome === 'full') this.onFull();
    };
  }
}
