/**
 * How a sink failure is treated. Unknown errors are transient: only an explicit data error may
 * dead-letter a message (EMQX lost acknowledged messages by calling errors "unrecoverable").
 *  - transient: retried forever with full-jitter backoff (Retry-After honoured);
 *  - configuration: the connector pauses and keeps queueing until a probe or a resume succeeds;
 *  - data: this message cannot be taken; after N attempts it goes to the dead-letter topic.
 */
/** A confirmed message, as the sink got it in the batch (compared by identity). */
export type ConfirmedMessage = object;

export type SinkErrorClass = 'transient' | 'configuration' | 'data';

export class SinkError extends Error {
  constructor(
    readonly errorClass: SinkErrorClass,
    /** A short reason for logs, metrics and the dead letter's user properties (no payloads, no secrets). */
    readonly reason: string,
    readonly options: {
      /** What the backend did confirm before failing: the batch's first n messages, or these. */
      confirmed?: number | readonly ConfirmedMessage[];
      /** Retry-After from the backend, ms. */
      retryAfterMs?: number;
      cause?: unknown;
    } = {},
  ) {
    super(`${errorClass}: ${reason}`);
    this.name = 'SinkError';
  }
}

/** Any thrown value as a SinkError; what a sink did not classify is transient. */
export function asSinkError(error: unknown): SinkError {
  if (error instanceof SinkError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SinkError('transient', message.slice(0, 200), { cause: error });
}
