/**
 * Prometheus metrics (prom-client), one registry per broker — never the global default one.
 * Hot-path counters stay plain numbers in the broker; they are read here at scrape time, so
 * publishing a message costs no metric work.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type QosCounts = readonly [number, number, number];

/** What the broker tells the metrics, read at each scrape. */
export interface MetricsSource {
  connections(): number;
  connectsTotal(): number;
  disconnectsByReason(): Readonly<Record<string, number>>;
  connectsRefusedByReason(): Readonly<Record<string, number>>;
  messagesReceivedByQos(): QosCounts;
  messagesSentByQos(): QosCounts;
  bytesReceived(): number;
  bytesSent(): number;
  droppedByReason(): Readonly<Record<string, number>>;
  /** Walks the sessions: queued and in-flight counts, sessions known. */
  sessionTotals(): { sessions: number; queued: number; inflight: number };
  retainedMessages(): number;
  subscriptions(): number;
  bridges(): ReadonlyArray<{ name: string; isConnected: boolean; queued: number }>;
  /** The sessions that dropped the most deliveries (a bounded list: one label set per session). */
  sessionsDropping(): ReadonlyArray<{ clientId: string; dropped: Readonly<Record<string, number>> }>;
  /** Whether store writes succeed, and how many failure episodes (a full disk) there were. */
  storeHealth(): { isWritable: boolean; episodes: number };
}

export class BrokerMetrics {
  readonly registry = new Registry();
  private readonly storeBatchSeconds: Histogram<string>;

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'midge_' });
    new Gauge({ name: 'midge_connections', help: 'Open client connections (after CONNACK)', registers, collect() { this.set(source.connections()); } });
    new Counter({
      name: 'midge_connects_total',
      help: 'Accepted CONNECTs',
      registers,
      collect() {
        this.reset();
        this.inc(source.connectsTotal());
      },
    });
    new Counter({
      name: 'midge_connects_refused_total',
      help: 'Refused CONNECTs by reason code',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(source.connectsRefusedByReason())) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'midge_disconnects_total',
      help: 'Closed client connections by reason',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(source.disconnectsByReason())) this.inc({ reason }, n);
      },
    });
    for (const [name, read, help] of [
      ['midge_messages_received_total', () => source.messagesReceivedByQos(), 'PUBLISH packets received from clients, by QoS'],
      ['midge_messages_sent_total', () => source.messagesSentByQos(), 'PUBLISH packets sent to clients, by QoS'],
    ] as const) {
      new Counter({
        name,
        help,
        labelNames: ['qos'],
        registers,
        collect() {
          this.reset();
          read().forEach((n, qos) => this.inc({ qos: String(qos) }, n));
        },
      });
    }
    new Counter({ name: 'midge_bytes_received_total', help: 'Bytes read from client sockets', registers, collect() { this.reset(); this.inc(source.bytesReceived()); } });
    new Counter({ name: 'midge_bytes_sent_total', help: 'Bytes written to client sockets', registers, collect() { this.reset(); this.inc(source.bytesSent()); } });
    new Counter({
      name: 'midge_messages_dropped_total',
      help: 'Deliveries not made, by reason',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(source.droppedByReason())) this.inc({ reason }, n);
      },
    });
    new Gauge({
      name: 'midge_session_dropped_messages',
      help: 'Deliveries dropped for one session, by reason (the 100 sessions that dropped the most)',
      labelNames: ['client_id', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const s of source.sessionsDropping()) {
          for (const [reason, n] of Object.entries(s.dropped)) if (n > 0) this.set({ client_id: s.clientId, reason }, n);
        }
      },
    });
    const sessionGauge = (name: string, help: string, pick: 'sessions' | 'queued' | 'inflight'): void => {
      new Gauge({ name, help, registers, collect() { this.set(source.sessionTotals()[pick]); } });
    };
    sessionGauge('midge_sessions', 'Sessions known (online and offline)', 'sessions');
    sessionGauge('midge_queued_messages', 'Deliveries waiting in session queues', 'queued');
    sessionGauge('midge_inflight_messages', 'QoS 1/2 deliveries sent and not yet acknowledged', 'inflight');
    new Gauge({ name: 'midge_retained_messages', help: 'Retained messages', registers, collect() { this.set(source.retainedMessages()); } });
    new Gauge({ name: 'midge_subscriptions', help: 'Subscriptions (shared-group memberships count one each)', registers, collect() { this.set(source.subscriptions()); } });
    new Gauge({
      name: 'midge_bridge_connected',
      help: 'Bridge link to its remote broker: 1 up, 0 down',
      labelNames: ['bridge'],
      registers,
      collect() {
        this.reset();
        for (const b of source.bridges()) this.set({ bridge: b.name }, b.isConnected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'midge_bridge_queued_messages',
      help: 'Messages stored for a bridge until its remote takes them',
      labelNames: ['bridge'],
      registers,
      collect() {
        this.reset();
        for (const b of source.bridges()) this.set({ bridge: b.name }, b.queued);
      },
    });
    new Gauge({ name: 'midge_store_writable', help: 'Store writes succeed: 1; failing (disk full?), acknowledgements withheld: 0', registers, collect() { this.set(source.storeHealth().isWritable ? 1 : 0); } });
    new Counter({
      name: 'midge_store_write_failure_episodes_total',
      help: 'Times store writes started failing (each episode ends when a retried write succeeds)',
      registers,
      collect() {
        this.reset();
        this.inc(source.storeHealth().episodes);
      },
    });
    this.storeBatchSeconds = new Histogram({
      name: 'midge_store_batch_seconds',
      help: 'Time to write one group-commit batch to the store',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
  }

  observeStoreBatch(seconds: number): void {
    this.storeBatchSeconds.observe(seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
