/**
 * Prometheus metrics (prom-client), one registry per broker — never the global default one.
 * The counters and gauges come from the broker's counters table (counters.ts renders them);
 * hot-path counters stay plain numbers in the broker, read here at scrape time, so publishing a
 * message costs no metric work. What is not a plain figure stays here: the process's default
 * metrics and the store batch-time histogram.
 */
import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerCounterTable, type CounterTable } from './counters.js';

export type QosCounts = readonly [number, number, number];

/** `R`: the reading the counters table's rows read (the broker's CountersReading). */
export class BrokerMetrics<R = unknown> {
  readonly registry = new Registry();
  private readonly storeBatchSeconds: Histogram<string>;
  private readonly read: () => R;
  /** The reading of the scrape under way: every metric of one scrape shows the same moment. */
  private scrapeReading: { reading: R } | undefined;

  /** `read` takes one reading of the broker's figures; the table says which metrics it feeds. */
  constructor(counters: { table: CounterTable<R>; read: () => R }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'midge_' });
    this.read = counters.read;
    registerCounterTable(this.registry, counters.table, () => (this.scrapeReading ?? { reading: this.read() }).reading);
    this.storeBatchSeconds = new Histogram({
      name: 'midge_store_batch_seconds',
      help: 'Time to write one group-commit batch to the store',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [this.registry],
    });
  }

  observeStoreBatch(seconds: number): void {
    this.storeBatchSeconds.observe(seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text; the broker's figures are read once for it (one walk of the sessions). */
  async metrics(): Promise<string> {
    const isOutermost = this.scrapeReading === undefined;
    if (isOutermost) this.scrapeReading = { reading: this.read() };
    try {
      return await this.registry.metrics();
    } finally {
      if (isOutermost) this.scrapeReading = undefined;
    }
  }
}
