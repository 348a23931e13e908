/**
 * What a durable queue needs from the broker, and nothing more. `brokerQueueHost` adapts the
 * Broker to it: a later refactor of the Broker touches that adapter only.
 */
import type { Broker } from '../broker/index.js';
import type { Logger } from '../observability/index.js';
import type { OverflowPolicy, Session } from '../session/index.js';
import type { CommitSink, Message, SubscriptionRecord } from '../store/index.js';

export interface QueueHost {
  readonly logger: Logger;
  now(): number;
  /** A session by client id (a consumer), if the broker holds one. */
  session(clientId: string): Session | undefined;
  /** A never-expiring persistent session with exactly these subscriptions, its stored deliveries loaded. */
  openSession(clientId: string, subscriptions: readonly SubscriptionRecord[], overflowPolicy: OverflowPolicy): Promise<Session>;
  /** Publishes as the queue; resolves once the message's effects are committed. */
  publish(message: Message, publisherId: string): Promise<number>;
  /** Resolves once everything added to the commit log so far is committed. */
  committed(): Promise<void>;
  /** A retained status topic kept in memory only ($SYS). */
  publishStatus(topic: string, payload: string): void;
}

export function brokerQueueHost(broker: Broker): QueueHost & { addCommitSink(sink: CommitSink): void; notePending(): void; nodeId: string } {
  return {
    nodeId: broker.cluster?.nodeId ?? '',
    addCommitSink: (sink) => broker.committer.addSink(sink),
    notePending: () => broker.committer.notePending(),
    logger: broker.logger,
    now: () => broker.now(),
    session: (clientId) => broker.sessions.get(clientId),
    openSession: (clientId, subscriptions, overflowPolicy) => broker.openInternalSession(clientId, subscriptions, { overflowPolicy }),
    publish: (message, publisherId) => broker.publishInternal(message, publisherId),
    committed: () => new Promise((resolve, reject) => broker.committer.afterCommit((error) => (error ? reject(error) : resolve()))),
    publishStatus: (topic, payload) => broker.publishEphemeralRetained({ topic, payload: Buffer.from(payload), qos: 0, retain: true }),
  };
}
