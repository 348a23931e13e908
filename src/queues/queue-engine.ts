/**
 * What a cluster queue needs of the engine and of the broker, declared here and implemented
 * structurally by src/cluster/work-queues.ts and the queue host (the composition wires them, so
 * the queues and cluster modules never import each other).
 */
import type { CommitSink } from '../store/index.js';
import type { QueueHost } from './host.js';

/** One message as the engine hands it over (src/cluster/work-queues.ts implements these). */
export interface QueueEngineMessage {
  readonly data: Uint8Array;
  readonly deliveryCount: number;
  readonly earlierDeliveries: number;
  ack(): void;
  nak(): void;
  working(): void;
}

export interface QueueEngineQueue {
  publish(items: ReadonlyArray<{ data: Uint8Array; id: string; earlierDeliveries?: number }>): Promise<Array<'stored' | 'full'>>;
  pull(max: number, expiresMs: number, onMessage: (message: QueueEngineMessage) => void): Promise<void>;
  depth(): Promise<{ messages: number; oldestAt: number | undefined }>;
}

/** The engine's durable queues, as the composition hands them in. */
export interface QueueEngine {
  /** A queue's stream, or (`isDeadLetters`) the stream holding its dead letters for replay. */
  open(options: { name: string; maxMessages: number; maxBytes: number; discardOld: boolean; ackWaitMs: number; isDeadLetters?: boolean }): Promise<QueueEngineQueue>;
}

/** What a cluster queue needs besides the QueueHost: the commit barrier its appends join. */
export interface ClusterQueueHost extends QueueHost {
  addCommitSink(sink: CommitSink): void;
  /** A sink took work for the coming batch: acknowledgements after this wait for it. */
  notePending(): void;
  readonly nodeId: string;
}
