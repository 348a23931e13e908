/**
 * A connector's source: records from a backend (AMQP queue, Redis consumer group, PostgreSQL
 * outbox) become MQTT messages published as `$connector/<name>`. A record is acknowledged to the
 * backend only after the commit that stored its message for every matching persistent session
 * (the commit POST /api/v1/publish waits for too), or after its dead letter was committed: a
 * Midge crash between the two leaves it with the backend, which hands it out again.
 *
 * A record no session matched takes the configured "no subscriber" outcome (dead-letter to
 * `$dlq/<name>`, ack, requeue); a record that cannot be mapped is dead-lettered or acked; a
 * backend that is down is reconnected with full-jitter backoff and logged once per outage.
 */
import type { BrokerService, ServiceStatus } from '../../broker/index.js';
import type { SourceConnectorConfig } from '../../config/index.js';
import type { Message } from '../../store/index.js';
import { backoffDelay } from '../backoff.js';
import type { ConnectorHost } from '../host.js';
import { BadRecord, ExpiredRecord, RecordMapper } from './mapping.js';
import { SourceStopped, type RecordOutcome, type SourceBackend, type SourceHandler, type SourceRecord } from './types.js';
import { WakeableSleeps } from '../wakeable-sleep.js';

export type SourceState = 'starting' | 'running' | 'backing-off' | 'paused' | 'stopped';
/** The backend link's own state; `paused` (by the operator) is shown over it. */
type LinkState = Exclude<SourceState, 'paused'>;

export interface SourceStatus extends ServiceStatus {
  /** A connector's part, as a sink's status is (kept out of the bridges' lists and metrics). */
  kind: 'connector';
  role: 'source';
  type: SourceConnectorConfig['type'];
  state: SourceState;
  /** `operator` while paused through the admin API (records stay with the backend), else null. */
  pausedBy: 'operator' | null;
  /** Why it is backing off (the backend's last error, no secrets). */
  lastError: string | null;
  /** Records taken from the backend. */
  consumed: number;
  /** Of those, ones the backend had handed out before (a crash or a cut link). */
  redelivered: number;
  /** Messages stored for at least one session. */
  published: number;
  /** Records acknowledged to the backend (forgotten there). */
  acked: number;
  /** Records no session matched. */
  noSubscriber: number;
  deadLettered: number;
  requeued: number;
  badRecords: number;
  /** Records whose own expiry (AMQP expiration) had passed when taken: acked, not published. */
  expired: number;
  /** Backend failures (connect, consume, ack) and store failures while publishing. */
  failed: number;
}

/** Builds the backend (its client library is loaded then, not before). */
export type SourceBackendFactory = (config: SourceConnectorConfig) => Promise<SourceBackend>;

export class Source implements BrokerService, SourceHandler {
  /** The service's name; the connector's name is `connector`. */
  readonly name: string;
  readonly connector: string;
  private readonly publisherId: string;
  private readonly mapper: RecordMapper;
  private backend: SourceBackend | undefined;
  private linkState: LinkState = 'starting';
  /** The state last published to $SYS. */
  private shownState: SourceState | undefined;
  private lastError: string | null = null;
  private isStopped = false;
  private isPausedByOperator = false;
  private isInOutage = false;
  private lastWarnAt = 0;
  private running: Promise<void> | undefined;
  private readonly sleeps = new WakeableSleeps();
  private readonly counters = { consumed: 0, redelivered: 0, published: 0, acked: 0, noSubscriber: 0, deadLettered: 0, requeued: 0, badRecords: 0, expired: 0, failed: 0 };

  constructor(
    private readonly host: ConnectorHost,
    readonly config: SourceConnectorConfig,
    private readonly makeBackend: SourceBackendFactory,
  ) {
    this.connector = config.name;
    this.name = `${config.name}/source`;
    this.publisherId = `$connector/${config.name}`;
    this.mapper = new RecordMapper(config.source);
  }

  get requeueDelayMs(): number {
    return this.config.source.requeueDelayMs;
  }

  get state(): SourceState {
    return this.isPausedByOperator && this.linkState !== 'stopped' ? 'paused' : this.linkState;
  }

  get status(): SourceStatus {
    return {
      kind: 'connector',
      role: 'source',
      name: this.connector,
      type: this.config.type,
      state: this.state,
      pausedBy: this.state === 'paused' ? 'operator' : null,
      lastError: this.lastError,
      isConnected: this.linkState === 'running',
      queued: 0,
      // A requeued record went back; taken again, it counts as consumed again.
      inflight: Math.max(0, this.counters.consumed - this.counters.acked - this.counters.requeued),
      forwarded: this.counters.published,
      received: this.counters.consumed,
      ...this.counters,
    };
  }

  async start(): Promise<void> {
    this.backend = await this.makeBackend(this.config);
    if (this.isPausedByOperator) this.backend.setPaused(true);
    this.host.logger.info({ connector: this.connector, type: this.config.type }, 'connector source starting');
    // Consuming runs on its own: a backend that is down must not hold up the broker's start.
    this.running = this.consumeForever();
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    this.sleeps.wakeAll();
    await this.backend?.stop().catch(() => undefined);
    await this.running?.catch(() => undefined);
    this.setState('stopped');
  }

  /**
   * Admin API: take no new records (they wait with the backend, which keeps them across a Midge
   * restart too); the ones already taken finish. Kept across reconnects until resume().
   */
  pause(): void {
    if (this.isStopped || this.isPausedByOperator) return;
    this.isPausedByOperator = true;
    this.backend?.setPaused(true);
    this.showState();
    this.host.logger.info({ connector: this.connector }, 'connector source paused by the admin API; records wait with the backend');
  }

  resume(): void {
    if (this.isStopped || !this.isPausedByOperator) return;
    this.isPausedByOperator = false;
    this.backend?.setPaused(false);
    this.showState();
    this.host.logger.info({ connector: this.connector }, 'connector source resumed by the admin API');
  }

  private async consumeForever(): Promise<void> {
    let attempt = 0;
    while (!this.isStopped) {
      try {
        await this.backend!.consume(this);
        attempt = 0;
      } catch (error) {
        if (this.isStopped) break;
        this.counters.failed++;
        const reason = describe(error);
        const now = Date.now();
        // Once per outage (a link that connects and fails again at once is the same outage); a
        // long one is said again every minute. A record acked ends it ("reachable again").
        if (!this.isInOutage || now - this.lastWarnAt > 60_000) {
          this.host.logger.warn({ connector: this.connector, type: this.config.type, reason }, 'connector source backend unavailable; reconnecting with backoff');
          this.lastWarnAt = now;
        }
        this.isInOutage = true;
        this.lastError = reason;
        this.setState('backing-off');
        await this.sleep(backoffDelay(attempt++, this.config.source.retryMinMs, this.config.source.retryMaxMs));
      }
    }
  }

  // --- SourceHandler --------------------------------------------------------------------------

  connected(): void {
    if (!this.isInOutage) this.host.logger.info({ connector: this.connector, type: this.config.type }, 'connector source consuming');
    this.lastError = null;
    this.setState('running');
  }

  acknowledged(count: number): void {
    this.counters.acked += count;
    if (this.isInOutage && count > 0) {
      this.isInOutage = false;
      this.host.logger.info({ connector: this.connector }, 'connector source backend reachable again');
    }
  }

  requeued(count: number): void {
    this.counters.requeued += count;
  }

  take(records: readonly SourceRecord[]): Promise<RecordOutcome[]> {
    // Route every record now, in order (publish routes synchronously); only the commits are awaited.
    const now = this.host.now();
    const steps = records.map((record) => {
      this.counters.consumed++;
      if (record.isRedelivered) this.counters.redelivered++;
      let message: Message;
      try {
        message = this.mapper.map(record, now);
      } catch (error) {
        if (error instanceof ExpiredRecord) return { record, isExpired: true };
        if (!(error instanceof BadRecord)) throw error;
        return { record, bad: error };
      }
      return { record, message, matched: this.host.publish(message, this.publisherId) };
    });
    return Promise.all(
      steps.map(async (step): Promise<RecordOutcome> => {
        if ('isExpired' in step) {
          // Expired on the way: nobody may get it [5.0 MQTT-3.3.2-5]; the backend forgets it.
          this.counters.expired++;
          return 'ack';
        }
        if ('bad' in step) return this.onBadRecord(step.record, step.bad!);
        const matched = await this.committed(step.matched!, step.message);
        if (matched > 0) {
          this.counters.published++;
          return 'ack';
        }
        this.counters.noSubscriber++;
        switch (this.config.source.onNoSubscriber) {
          case 'ack':
            return 'ack';
          case 'requeue':
            return 'requeue';
          case 'dead-letter':
            await this.deadLetter(step.message.payload, step.record, { reason: 'no-subscriber', topic: step.message.topic, ...(step.message.properties?.userProperties ?? {}) }, step.message);
            return 'ack';
        }
      }),
    );
  }

  /** The publish's commit; a store failure is retried (the record stays with the backend meanwhile). */
  private async committed(first: Promise<number>, message: Message): Promise<number> {
    let pending = first;
    for (let attempt = 0; ; attempt++) {
      try {
        return await pending;
      } catch (error) {
        if (this.isStopped) throw new SourceStopped();
        this.counters.failed++;
        this.host.logger.error({ connector: this.connector, err: error }, 'command not stored; retrying');
        await this.sleep(backoffDelay(attempt, this.config.source.retryMinMs, this.config.source.retryMaxMs));
        if (this.isStopped) throw new SourceStopped();
        pending = this.host.publish(message, this.publisherId);
      }
    }
  }

  private async onBadRecord(record: SourceRecord, error: BadRecord): Promise<RecordOutcome> {
    this.counters.badRecords++;
    this.host.logger.warn({ connector: this.connector, record: record.id, reason: error.reason, outcome: this.config.source.onBadRecord }, 'connector source: record cannot be mapped');
    if (this.config.source.onBadRecord === 'dead-letter') await this.deadLetter(record.payload, record, { reason: 'bad-record', error: error.reason });
    return 'ack';
  }

  /** Publishes to the dead-letter topic; resolves once that is committed (then the record may be acked). */
  private async deadLetter(payload: Buffer, record: SourceRecord, userProperties: Record<string, string | string[]>, original?: Message): Promise<void> {
    const message: Message = {
      topic: this.config.delivery.deadLetterTopic,
      payload,
      qos: 1,
      retain: false,
      properties: { ...(original?.properties ?? {}), userProperties: { ...userProperties, connector: this.connector, record: record.id } },
      ...(original?.expiresAt !== undefined ? { expiresAt: original.expiresAt } : {}),
    };
    await this.committed(this.host.publish(message, this.publisherId), message);
    this.counters.deadLettered++;
  }

  private sleep(ms: number): Promise<void> {
    if (this.isStopped) return Promise.resolve();
    return this.sleeps.sleep(ms);
  }

  private setState(state: LinkState): void {
    this.linkState = state;
    this.showState();
  }

  /** $SYS/broker/connector/<name>/source/state: starting | running | backing-off | paused | stopped. */
  private showState(): void {
    const state = this.state;
    if (this.shownState === state) return;
    this.shownState = state;
    this.host.publishStatus(`$SYS/broker/connector/${this.connector}/source/state`, state);
  }
}

/** An error as a short reason: no URLs with credentials, no payloads. */
export function describe(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const code = typeof e?.code === 'string' || typeof e?.code === 'number' ? `${e.code}: ` : '';
  return `${code}${message}`.replace(/[a-z][a-z0-9+.-]*:\/\/[^@\s/]*@/gi, (m) => m.replace(/\/\/[^@]*@/, '//***@')).slice(0, 200);
}
