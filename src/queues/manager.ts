/**
 * The durable queues and dead-letter holders of one broker: the router's QueueRouting (which
 * `$queue/<name>` subscriptions are consumers of which queue; in cluster mode also which
 * published messages the queues capture into the engine), and the lookups of the admin API.
 */
import type { QueueRouting } from '../broker/index.js';
import type { QueueConfig } from '../config/index.js';
import type { Session } from '../session/index.js';
import type { Message, SubscriptionRecord } from '../store/index.js';
import type { ClusterQueue } from './cluster-queue.js';
import { RefusalVerdict } from './queue-appender.js';
import { DeadLetterHolder, type DeadLetterSource, type DeadLetterStatus } from './dead-letters.js';
import type { QueueHost } from './host.js';
import { DurableQueue, type QueueStatus } from './queue.js';

/** A single node's queue (in the store) or a cluster's (in the engine). */
export type QueueService = DurableQueue | ClusterQueue;

const QUEUE_PREFIX = '$queue/';

export class QueueManager implements QueueRouting {
  readonly queues: QueueService[];
  readonly deadLetters: DeadLetterHolder[];
  private readonly byFilter: Map<string, QueueService>;
  /** Cluster mode: the queues that capture published messages themselves. */
  private readonly capturing: ClusterQueue[];
  private readonly hasRejecting: boolean;

  constructor(
    host: QueueHost,
    configs: readonly QueueConfig[],
    /** Dead-letter topics kept for replay besides the queues' own (the connectors'). */
    otherDeadLetters: readonly DeadLetterSource[],
    options: { consumerWindow: number; sysIntervalSeconds: number },
    /** Cluster mode: builds the engine's queue instead (and no dead-letter holders are kept). */
    clusterQueue?: (config: QueueConfig) => ClusterQueue,
  ) {
    this.queues = configs.map((c) => clusterQueue?.(c) ?? new DurableQueue(host, c, options.consumerWindow, options.sysIntervalSeconds));
    this.capturing = clusterQueue ? (this.queues as ClusterQueue[]) : [];
    this.hasRejecting = this.capturing.some((q) => q.isRejecting);
    this.byFilter = new Map(this.queues.map((q) => [q.filter, q]));
    const sources: DeadLetterSource[] = [
      ...configs.map((c) => ({ name: c.name, topic: c.deadLetterTopic, targetSessionId: `$queue/${c.name}`, maxMessages: c.maxMessages, maxBytes: c.maxBytes })),
      ...otherDeadLetters,
    ];
    // A holder is an internal session: in a cluster each node would hold its own. Not built there.
    this.deadLetters = clusterQueue ? [] : sources.map((s) => new DeadLetterHolder(host, s));
  }

  queue(name: string): QueueService | undefined {
    return this.byFilter.get(QUEUE_PREFIX + name);
  }

  deadLettersOf(name: string): DeadLetterHolder | undefined {
    return this.deadLetters.find((d) => d.source.name === name);
  }

  /** Cluster mode: the queue whose dead letters the engine holds (a replay of them is cluster-wide). */
  clusterQueue(name: string): ClusterQueue | undefined {
    return this.capturing.find((q) => q.name === name);
  }

  /** What `GET /api/v1/dlq` lists: the holders here, or in cluster mode the queues' dead-letter streams. */
  get deadLetterStatuses(): DeadLetterStatus[] {
    return [...this.deadLetters.map((d) => d.status), ...this.capturing.map((q) => q.deadLetterStatus)];
  }

  get statuses(): QueueStatus[] {
    return this.queues.map((q) => q.status);
  }

  // --- QueueRouting -----------------------------------------------------------------------------

  isQueueFilter(filter: string): boolean {
    return filter.startsWith(QUEUE_PREFIX);
  }

  hasQueue(filter: string): boolean {
    return this.byFilter.has(filter);
  }

  consumerAdded(clientId: string, subscription: SubscriptionRecord): boolean {
    return this.byFilter.get(subscription.filter)?.addConsumer(clientId, subscription) ?? false;
  }

  consumerRemoved(clientId: string, filter: string): boolean {
    return this.byFilter.get(filter)?.removeConsumer(clientId) ?? false;
  }

  sessionOnline(session: Session): void {
    for (const queue of this.queues) if (queue.hasConsumer(session.clientId)) queue.consumerOnline();
  }

  get capturesPublishes(): boolean {
    return this.capturing.length > 0;
  }

  /** Of the last `capture`: set when only `reject` queues took the message (their refusal is the publisher's answer). */
  lastCaptureVerdict: RefusalVerdict | undefined;

  capture(message: Message, publisherId: string | undefined): number {
    // A verdict object per publish only where a `reject` queue is configured.
    const verdict = this.hasRejecting ? new RefusalVerdict() : undefined;
    let captured = 0;
    let isOnlyRejecting = true;
    for (const queue of this.capturing) {
      const taken = queue.capture(message, publisherId, verdict);
      captured += taken;
      if (taken > 0 && !queue.isRejecting) isOnlyRejecting = false;
    }
    this.lastCaptureVerdict = captured > 0 && isOnlyRejecting ? verdict : undefined;
    return captured;
  }
}
