/**
 * The durable queues and dead-letter holders of one broker: the router's QueueRouting (which
 * `$queue/<name>` subscriptions are consumers of which queue), and the lookups of the admin API.
 */
import type { QueueRouting } from '../broker/index.js';
import type { QueueConfig } from '../config/index.js';
import type { Session } from '../session/index.js';
import type { SubscriptionRecord } from '../store/index.js';
import { DeadLetterHolder, type DeadLetterSource } from './dead-letters.js';
import type { QueueHost } from './host.js';
import { DurableQueue, type QueueStatus } from './queue.js';

const QUEUE_PREFIX = '$queue/';

export class QueueManager implements QueueRouting {
  readonly queues: DurableQueue[];
  readonly deadLetters: DeadLetterHolder[];
  private readonly byFilter: Map<string, DurableQueue>;

  constructor(
    host: QueueHost,
    configs: readonly QueueConfig[],
    /** Dead-letter topics kept for replay besides the queues' own (the connectors'). */
    otherDeadLetters: readonly DeadLetterSource[],
    options: { consumerWindow: number; sysIntervalSeconds: number },
  ) {
    this.queues = configs.map((c) => new DurableQueue(host, c, options.consumerWindow, options.sysIntervalSeconds));
    this.byFilter = new Map(this.queues.map((q) => [q.filter, q]));
    const sources: DeadLetterSource[] = [
      ...configs.map((c) => ({ name: c.name, topic: c.deadLetterTopic, targetSessionId: `$queue/${c.name}`, maxMessages: c.maxMessages, maxBytes: c.maxBytes })),
      ...otherDeadLetters,
    ];
    this.deadLetters = sources.map((s) => new DeadLetterHolder(host, s));
  }

  queue(name: string): DurableQueue | undefined {
    return this.byFilter.get(QUEUE_PREFIX + name);
  }

  deadLettersOf(name: string): DeadLetterHolder | undefined {
    return this.deadLetters.find((d) => d.source.name === name);
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
}
