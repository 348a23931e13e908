/** What a sink sees of one message, and the contract every sink implements. */
import type { Message, OutgoingRecord } from '../store/index.js';

/** One message on its way to the backend. */
export interface ConnectorMessage {
  /** Stable across retries and restarts: `<connector>:<seq>`, for sink-side de-duplication. */
  readonly id: string;
  readonly message: Message;
  readonly retain: boolean;
  /** When the connector took it (epoch ms): stored deliveries carry no publish time. */
  readonly timestamp: number;
  /** Sent before (resent after a restart or a retry): the sink may hold a copy. */
  isRedelivered: boolean;
  /** Failed data attempts so far (not persisted: a restart starts again at 0). */
  attempts: number;
  /** The session's delivery, acknowledged once the backend confirmed it. */
  readonly record: OutgoingRecord;
  /** Ordering lane; undefined = no ordering constraint. */
  readonly lane: string | undefined;
}

/**
 * A backend the connector writes to. `send` resolves only once the backend confirmed every
 * message of the batch (HTTP 2xx, publisher confirm, COMMIT, XADD reply), in order; otherwise it
 * throws a SinkError saying how many of the first ones were confirmed anyway.
 */
export interface Sink {
  readonly kind: string;
  /** Connects (or checks it can); throws a SinkError when it cannot. */
  open(): Promise<void>;
  send(batch: readonly ConnectorMessage[]): Promise<void>;
  close(): Promise<void>;
}
