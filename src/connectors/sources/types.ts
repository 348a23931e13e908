/** What a source backend hands to the source, and what the source answers for each record. */

/** One record taken from the backend (an AMQP delivery, a stream entry, an outbox row). */
export interface SourceRecord {
  /** The backend's own id, for logs and dead letters (delivery tag, entry id, row id). */
  readonly id: string;
  /** What templates read: `${name}` or `${a.b}` walks these (headers, stream fields, columns). */
  readonly fields: Readonly<Record<string, unknown>>;
  /** The natural payload when no payload template is configured. */
  readonly payload: Buffer;
  /** The backend says it handed this record out before (AMQP redelivered, a recovered pending entry). */
  readonly isRedelivered: boolean;
  /**
   * MQTT 5 properties the backend's own message carries (AMQP replyTo, correlationId,
   * contentType, headers): the message starts with these, and the source's templates override them.
   */
  readonly properties?: Readonly<Partial<RecordProperties>>;
  /** When the backend's own message expires (epoch ms; AMQP expiration): taken later, it is dropped. */
  readonly expiresAt?: number;
}

/** The MQTT 5 properties a backend record may carry by itself. */
export interface RecordProperties {
  responseTopic: string;
  correlationData: Buffer;
  contentType: string;
  userProperties: Record<string, string | string[]>;
}

/**
 * What the backend does with a record once Midge is done with it:
 *  - ack: its message is stored for every matching session (or dead-lettered, or dropped by
 *    rule): the backend may forget it;
 *  - requeue: no session matched and the source is configured to retry: give it back (after the
 *    configured delay).
 */
export type RecordOutcome = 'ack' | 'requeue';

/** The source's side of the contract, given to the backend's `consume`. */
export interface SourceHandler {
  /**
   * Maps and publishes the records (their routing happens in this order, before the returned
   * promise is pending) and resolves with each one's outcome once the commits that store them
   * are done. Rejects only when the source is stopping: then nothing may be acknowledged.
   */
  take(records: readonly SourceRecord[]): Promise<RecordOutcome[]>;
  /** The backend is consuming (connected, queue/group/table reachable). */
  connected(): void;
  /** The backend acknowledged (or gave back) this many records. */
  acknowledged(count: number): void;
  requeued(count: number): void;
  /** How long a requeued record is held before it goes back. */
  readonly requeueDelayMs: number;
}

/**
 * A backend the source reads from. `consume` connects and consumes until the link fails (it
 * throws, and the source reconnects with backoff) or `stop` is called (it resolves). Records it
 * had handed over but not acknowledged stay with the backend, which hands them out again.
 */
export interface SourceBackend {
  readonly kind: string;
  consume(handler: SourceHandler): Promise<void>;
  /**
   * The operator's pause: take no new records (they stay with the backend) until unpaused; the
   * ones already taken finish. Kept across reconnects.
   */
  setPaused(isPaused: boolean): void;
  stop(): Promise<void>;
}

/** Thrown by `take` when the source stops mid-record: the backend must not acknowledge it. */
export class SourceStopped extends Error {
  constructor() {
    super('source stopped');
    this.name = 'SourceStopped';
  }
}
