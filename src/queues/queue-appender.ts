/**
 * The capture side of a cluster queue: messages published on this node that match the queue's
 * topics are appended to its stream with the commit batch of their turn — a commit sink, so the
 * publisher's PUBACK waits for the stream's ack as it waits for the store. With overflow `reject`
 * the stream's refusal at its bound is reported to the publish (RefusalVerdict) before that PUBACK.
 */
import { encodeMessage, type CommitSink, type Message } from '../store/index.js';
import { SubscriptionTrie } from '../topics/index.js';
import type { ClusterQueueHost, QueueEngineQueue } from './queue-engine.js';

/**
 * Whether the `reject` queues that captured one publish all refused it at their bound, known only
 * once the batch holding its appends is committed (the stream answers the append, not the node).
 * The publish handler reads it as it sends the PUBACK/PUBREC, so an MQTT 5 publisher hears 0x97
 * Quota exceeded as from a single node's queue. A publish another destination took (a subscriber,
 * a queue with another overflow side) is given none (QueueManager.capture).
 */
export class RefusalVerdict {
  private expected = 0;
  private refused = 0;

  expect(): void {
    this.expected++;
  }

  refuse(): void {
    this.refused++;
  }

  /** Read after the commit: every append refused. */
  get isRefused(): boolean {
    return this.expected > 0 && this.refused === this.expected;
  }
}

interface Append {
  data: Uint8Array;
  id: string;
  /** The publish's verdict, for a `reject` queue. */
  verdict?: RefusalVerdict;
}

export class QueueAppender implements CommitSink {
  /** The queue's topics, matched once per publish on this node. */
  private readonly topics = new SubscriptionTrie<true>();
  /** Captured since the last batch was taken. */
  private pending: Append[] = [];
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

  capture(message: Message, publisherId: string | undefined, host: ClusterQueueHost, verdict?: RefusalVerdict): number {
    if (publisherId === this.ownId || this.topics.match(message.topic).length === 0) return 0;
    verdict?.expect();
    this.pending.push({ data: encodeMessage({ ...message, retain: false }), id: this.nextId(), verdict });
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
      // Refused at the bound: counted, not retried (and told to a `reject` queue's publisher).
      outcomes.forEach((outcome, i) => {
        if (outcome !== 'full') return;
        items[i]!.verdict?.refuse();
        this.onFull();
      });
    };
  }
}
