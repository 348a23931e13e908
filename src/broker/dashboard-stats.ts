/**
 * The dashboard's stats stream: one sample a second of the counters table's stream view (the rows'
 * `stream` places, see counters-table.ts), kept for 15 minutes and sent as Server-Sent Events; the same
 * figures, cumulative, for /api/v1/overview. This file owns the sampling timer: it runs while the
 * broker runs and stops once the broker has stopped (or never started), until the next request.
 */
import { streamView, type HttpResponse, type StreamReading } from '../observability/index.js';
import type { BrokerAdmin } from './admin.js';
import { BROKER_COUNTERS } from './counters-table.js';
import { StatsSampler } from './stats-sampler.js';

const SAMPLE_INTERVAL_MS = 1000;
/** A broker that has not started after this long stops the sampler until the next request. */
const IDLE_SAMPLER_TICKS = 120;

/** The stream view of one reading of the broker's counters table. */
export function readStream(broker: BrokerAdmin): StreamReading {
  return streamView(BROKER_COUNTERS, broker.counters());
}

/** A stream reading as one flat object, counters cumulative (the overview shows it so). */
export function streamFigures(reading: StreamReading): Record<string, number | Readonly<Record<string, number>>> {
  return { ...reading.values, ...reading.groups };
}

export class DashboardStats {
  readonly sampler: StatsSampler;
  private timer: NodeJS.Timeout | undefined;
  private idleTicks = 0;
  private hasSeenRunning = false;

  constructor(private readonly broker: BrokerAdmin) {
    this.sampler = new StatsSampler(() => readStream(broker), () => broker.now());
    this.ensureSampling();
  }

  /** One tick: sample while the broker runs; stop once it has stopped (or never started). */
  tick(): void {
    if (this.broker.isRunning) {
      this.hasSeenRunning = true;
      this.idleTicks = 0;
      this.sampler.sample();
      this.broker.topicRates.tick();
    } else if (this.hasSeenRunning || ++this.idleTicks > IDLE_SAMPLER_TICKS) {
      this.stopSampling();
    }
  }

  /** Every dashboard request calls this: a running broker's sampler starts again if it had stopped. */
  wake(): void {
    if (this.broker.isRunning) this.ensureSampling();
  }

  /** GET /api/v1/stats/history: the kept samples, oldest first. */
  history(): HttpResponse {
    return { status: 200, body: this.sampler.samples };
  }

  /** GET /api/v1/stats/stream: the history first, so charts start full; then one event per sample. */
  stream(): HttpResponse {
    return {
      status: 200,
      body: '',
      stream: (sink) => {
        sink.write(`retry: 2000\nevent: history\ndata: ${JSON.stringify(this.sampler.samples)}\n\n`);
        const stop = this.sampler.subscribe((sample) => sink.write(`event: sample\ndata: ${JSON.stringify(sample)}\n\n`));
        sink.onClose(stop);
      },
    };
  }

  private ensureSampling(): void {
    if (this.timer) return;
    this.hasSeenRunning = false;
    this.idleTicks = 0;
    this.timer = setInterval(() => this.tick(), SAMPLE_INTERVAL_MS);
    // The broker's life is its listeners', not this timer's.
    this.timer.unref();
  }

  private stopSampling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
