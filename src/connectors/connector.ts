/**
 * A connector: an internal persistent session `$connector/<name>` whose deliveries go to a
 * backend sink in batches. A delivery is acknowledged to the session (and so deleted from the
 * store) only once the sink confirmed it, or once its dead letter is committed: a message
 * PUBACKed to a device reaches the backend, the dead-letter topic, or a configured, counted
 * queue bound — never lost to a restart, a timeout or an error class.
 */
import type { BrokerService } from '../broker/index.js';
import type { SinkConnectorConfig } from '../config/index.js';
import type { SessionLink } from '../session/index.js';
import type { OutgoingRecord, SubscriptionRecord } from '../store/index.js';
import { backoffDelay } from './backoff.js';
import { BatchQueue } from './batch-queue.js';
import { ConnectorCounters, ConnectorStateCell, type ConnectorStatus } from './connector-status.js';
import { deadLetterOf } from './dead-letter.js';
import { asSinkError, type SinkError } from './errors.js';
import type { ConnectorHost, ConnectorSession } from './host.js';
import type { ConnectorMessage, Sink } from './types.js';
import { WakeableSleeps } from './wakeable-sleep.js';

/** Builds the connector's sink (the client library is loaded then, not before). */
export type SinkFactory = (config: SinkConnectorConfig) => Promise<Sink>;

class Stopped extends Error {}

export class Connector implements BrokerService, SessionLink {
  readonly name: string;
  readonly sessionId: string;
  private session: ConnectorSession | undefined;
  private sink: Sink | undefined;
  private readonly cell: ConnectorStateCell;
  private isStopped = false;
  /** Received from the session, not yet in a batch, in order. */
  private readonly pending: BatchQueue;
  /** Everything held unconfirmed (pending and in batches), in arrival order. */
  private readonly held = new Set<ConnectorMessage>();
  private activeBatches = 0;
  private waitTimer: NodeJS.Timeout | undefined;
  private isDispatchScheduled = false;
  private readonly sleeps = new WakeableSleeps();
  private pauseAttempt = 0;
  private qos0Counter = 0;
  private readonly window: number;
  private readonly counters = new ConnectorCounters();

  constructor(
    private readonly host: ConnectorHost,
    readonly config: SinkConnectorConfig,
    private readonly makeSink: SinkFactory,
  ) {
    this.name = config.name;
    this.sessionId = `$connector/${config.name}`;
    this.window = config.delivery.batchSize * config.delivery.inflight;
    this.pending = new BatchQueue(config.delivery);
    this.cell = new ConnectorStateCell(config.name, (topic, payload) => host.publishStatus(topic, payload));
  }

  get status(): ConnectorStatus {
    const oldest = this.held.values().next().value;
    return {
      kind: 'connector',
      name: this.name,
      type: this.config.type,
      state: this.cell.state,
      pausedReason: this.cell.pausedReason,
      pausedBy: this.cell.pausedBy,
      isConnected: this.cell.state === 'running',
      queued: this.session?.queuedCount ?? 0,
      inflight: this.held.size,
      forwarded: this.counters.delivered,
      received: 0,
      ...this.counters.snapshot(),
      oldestAgeSeconds: oldest ? Math.max(0, (this.host.now() - oldest.timestamp) / 1000) : 0,
    };
  }

  async start(): Promise<void> {
    const c = this.config;
    // QoS 1 (the backend's confirmation ends the delivery); No Local so the connector's own
    // publishes (dead letters, later sources) never loop back; no retained flood on subscribe.
    const subscriptions: SubscriptionRecord[] = c.sink.topics.map((filter) => ({ filter, qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 }));
    this.sink = await this.makeSink(c);
    this.session = await this.host.openSession(this.sessionId, subscriptions, {
      dropsOldestWhenFull: c.queue.overflow === 'drop-oldest',
      maxQueuedMessages: c.queue.maxMessages,
      maxQueuedBytes: c.queue.maxBytes,
      window: this.window,
      storesQos0: c.sink.storeQos0,
      onDrop: (reason) => {
        if (this.counters.countDrop(reason) % 1000 === 1 && reason === 'queue-full') {
          this.host.logger.warn({ connector: this.name, overflow: c.queue.overflow, maxMessages: c.queue.maxMessages }, 'connector queue full; dropping by its overflow rule');
        }
      },
    });
    this.cell.set('running');
    this.host.logger.info({ connector: this.name, type: c.type, topics: c.sink.topics, queued: this.session.queuedCount }, 'connector started');
    this.session.attach(this, this.window);
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.sleeps.wakeAll();
    // What is unconfirmed stays in the session (and store) and is sent again after a restart.
    if (this.session?.isOnline) this.session.detach(this.host.now());
    await this.sink?.close().catch(() => undefined);
    this.cell.set('stopped');
  }

  /** Admin API: stop sending (messages keep queueing) until resume(). */
  pause(): void {
    if (this.isStopped) return;
    this.cell.pauseByOperator();
    this.host.logger.info({ connector: this.name }, 'connector paused by the admin API; messages keep queueing');
  }

  resume(): void {
    if (this.isStopped) return;
    this.cell.resumeByOperator();
    this.pauseAttempt = 0;
    this.sleeps.wakeAll();
    this.session?.resume();
    this.dispatch(true);
  }

  // --- SessionLink ----------------------------------------------------------------------------

  get isWritable(): boolean {
    return !this.isStopped && this.cell.state !== 'paused' && this.held.size < this.window;
  }

  sendPublish(record: OutgoingRecord, isDuplicate: boolean): void {
    const id = record.seq > 0 ? `${this.name}:${record.seq}` : `${this.name}:0.${++this.qos0Counter}`;
    const item: ConnectorMessage = {
      id,
      message: record.message,
      retain: record.retain,
      timestamp: this.host.now(),
      isRedelivered: isDuplicate,
      attempts: 0,
      record,
      lane: undefined, // the batch queue sets it
    };
    this.pending.push(item);
    this.held.add(item);
    this.scheduleDispatch();
  }

  sendPubrel(): void {
    // The connector's subscriptions are QoS 1: no QoS 2 release step.
  }

  // --- batching -------------------------------------------------------------------------------

  private scheduleDispatch(): void {
    if (this.pending.length >= this.config.delivery.batchSize || this.config.delivery.maxWaitMs === 0) {
      if (this.isDispatchScheduled) return;
      this.isDispatchScheduled = true;
      // Not from inside the session's deliver() call: the publisher's stack returns first.
      setImmediate(() => {
        this.isDispatchScheduled = false;
        this.dispatch(true);
      });
    } else if (!this.waitTimer) {
      this.waitTimer = setTimeout(() => {
        this.waitTimer = undefined;
        this.dispatch(true);
      }, this.config.delivery.maxWaitMs);
    }
  }

  private dispatch(isPartialAllowed: boolean): void {
    const d = this.config.delivery;
    while (!this.isStopped && this.cell.state !== 'paused' && this.activeBatches < d.inflight && this.pending.length > 0) {
      if (!isPartialAllowed && this.pending.length < d.batchSize) break;
      const batch = this.pending.take(d.inflight - this.activeBatches);
      if (batch.length === 0) break; // every pending message waits for its lane
      this.activeBatches++;
      const lanes = this.pending.hold(batch);
      void this.deliverRange(batch)
        .catch((error: unknown) => {
          if (!(error instanceof Stopped)) this.host.logger.error({ connector: this.name, err: error }, 'connector batch failed unexpectedly');
        })
        .finally(() => {
          this.activeBatches--;
          this.pending.release(lanes);
          if (this.isStopped) return;
          this.session?.resume();
          this.dispatch(this.pending.length >= d.batchSize || this.activeBatches === 0);
          if (this.pending.length > 0) this.scheduleDispatch();
        });
    }
  }

  // --- delivery, retries, dead letters ----------------------------------------------------------

  /**
   * Sends the messages until each is confirmed or dead-lettered. Transient errors retry the same
   * messages forever; a configuration error pauses; a data error splits the batch in halves (one
   * poison message must not hold back the rest) until the message alone has failed N times.
   */
  private async deliverRange(initial: readonly ConnectorMessage[]): Promise<void> {
    let items = initial;
    let attempt = 0;
    while (items.length > 0) {
      await this.whilePaused();
      const started = performance.now();
      try {
        await this.sink!.send(items);
        this.counters.observeBatch((performance.now() - started) / 1000);
        this.confirm(items);
        this.onSuccess();
        return;
      } catch (thrown) {
        if (this.isStopped) throw new Stopped();
        const error = asSinkError(thrown);
        const confirmed = error.options.confirmed ?? 0;
        const done = typeof confirmed === 'number' ? items.slice(0, Math.max(0, confirmed)) : items.filter((i) => confirmed.includes(i));
        if (done.length > 0) {
          this.confirm(done);
          const doneSet = new Set(done);
          items = items.filter((i) => !doneSet.has(i));
        }
        this.counters.failed[error.errorClass]++;
        for (const item of items) item.isRedelivered = true;
        if (error.errorClass === 'transient') {
          this.counters.retried += items.length;
          if (this.cell.state === 'running') {
            this.cell.set('backing-off');
            this.host.logger.warn({ connector: this.name, reason: error.reason }, 'connector backend unavailable; retrying with backoff');
          }
          await this.sleep(backoffDelay(attempt++, this.config.delivery.retryMinMs, this.config.delivery.retryMaxMs, error.options.retryAfterMs));
          continue;
        }
        if (error.errorClass === 'configuration') {
          this.enterPause(error.reason);
          continue;
        }
        if (items.length > 1) {
          const middle = Math.ceil(items.length / 2);
          await this.deliverRange(items.slice(0, middle));
          await this.deliverRange(items.slice(middle));
          return;
        }
        const item = items[0]!;
        item.attempts++;
        if (item.attempts >= this.config.delivery.deadLetterAfterAttempts) {
          await this.deadLetter(item, error);
          return;
        }
        this.counters.retried++;
        await this.sleep(backoffDelay(item.attempts - 1, this.config.delivery.retryMinMs, this.config.delivery.retryMaxMs));
      }
    }
  }

  /** The backend confirmed these: the session may forget them. */
  private confirm(items: readonly ConnectorMessage[]): void {
    for (const item of items) {
      this.held.delete(item);
      this.counters.delivered++;
      const packetId = item.record.packetId;
      if (item.record.qos > 0 && packetId !== undefined) this.session?.acknowledge(packetId);
    }
  }

  /**
   * Publishes the message to the dead-letter topic (original topic and reason as user
   * properties) and acknowledges it only once that publish is committed.
   */
  private async deadLetter(item: ConnectorMessage, error: SinkError): Promise<void> {
    const letter = deadLetterOf(item, error, this.name, this.config.delivery.deadLetterTopic);
    let attempt = 0;
    for (;;) {
      if (this.isStopped) throw new Stopped();
      try {
        await this.host.publish(letter, this.sessionId);
        break;
      } catch (publishError) {
        this.host.logger.error({ connector: this.name, err: publishError }, 'dead letter not stored; retrying');
        await this.sleep(backoffDelay(attempt++, this.config.delivery.retryMinMs, this.config.delivery.retryMaxMs));
      }
    }
    this.counters.deadLettered++;
    this.counters.delivered--; // confirm() counts it; a dead letter is not a delivery
    this.confirm([item]);
    this.host.logger.warn({ connector: this.name, topic: item.message.topic, msgid: item.id, reason: error.reason, deadLetterTopic: this.config.delivery.deadLetterTopic }, 'message dead-lettered');
  }

  private onSuccess(): void {
    this.pauseAttempt = 0;
    const left = this.cell.recover();
    if (left === undefined) return;
    this.host.logger.info({ connector: this.name }, left === 'paused' ? 'connector resumed: the backend accepts messages again' : 'connector backend reachable again');
    this.session?.resume();
  }

  /** A configuration error: stop sending, keep queueing, say it once. */
  private enterPause(reason: string): void {
    if (this.cell.pauseByConfiguration(reason)) {
      this.host.logger.error({ connector: this.name, reason }, 'connector paused: the backend refuses its configuration; messages keep queueing');
    }
  }

  /** While paused: wait for a resume, or (a configuration pause) for the next probe. */
  private async whilePaused(): Promise<void> {
    while (this.cell.state === 'paused') {
      if (this.isStopped) throw new Stopped();
      if (this.cell.isPausedByOperator) {
        await this.sleep(3_600_000);
        continue;
      }
      // The next send is the probe: if the backend was fixed, it succeeds and we run again.
      await this.sleep(backoffDelay(this.pauseAttempt++, this.config.delivery.retryMinMs, this.config.delivery.retryMaxMs));
      return;
    }
    if (this.isStopped) throw new Stopped();
  }

  private sleep(ms: number): Promise<void> {
    if (this.isStopped) return Promise.resolve();
    return this.sleeps.sleep(ms);
  }
}
