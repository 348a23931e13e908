/**
 * The messages a connector received and has not yet put in a batch, and the ordering lanes the
 * batches in flight hold: a lane's next message waits until the batch holding that lane is done,
 * so per-topic (or per-client, or strict) order survives several batches in flight.
 */
import type { ConnectorDeliveryConfig, ConnectorOrdering } from '../config/index.js';
import { Template } from './template.js';
import type { ConnectorMessage } from './types.js';

export class BatchQueue {
  /** Received, not yet in a batch, in order. */
  private pending: ConnectorMessage[] = [];
  /** Lane → batches in flight holding it. */
  private readonly busyLanes = new Map<string, number>();

  private readonly ordering: ConnectorOrdering;
  private readonly batchSize: number;
  /** per-client ordering: the lane key. */
  private readonly orderingKey: Template | undefined;

  constructor(delivery: Pick<ConnectorDeliveryConfig, 'ordering' | 'batchSize' | 'orderingKey'>) {
    this.ordering = delivery.ordering;
    this.batchSize = delivery.batchSize;
    if (delivery.ordering === 'per-client') this.orderingKey = new Template(delivery.orderingKey);
  }

  get length(): number {
    return this.pending.length;
  }

  /** Queues the message in its ordering lane (set here: none, the topic, the key, or one for all). */
  push(item: ConnectorMessage): void {
    (item as { lane: string | undefined }).lane = this.laneOf(item);
    this.pending.push(item);
  }

  private laneOf(item: ConnectorMessage): string | undefined {
    switch (this.ordering) {
      case 'none':
        return undefined;
      case 'strict':
        return '';
      case 'per-topic':
        return item.message.topic;
      case 'per-client':
        return this.orderingKey!.renderCached(item);
    }
  }

  /**
   * Up to batchSize pending messages, in order, skipping lanes a batch in flight holds. With
   * lanes, the free lanes are spread over the free batch slots (a batch that took every lane would
   * leave the other slots nothing to send while it waits for the backend).
   */
  take(freeSlots: number): ConnectorMessage[] {
    const size = this.batchSize;
    if (this.ordering === 'none') return this.pending.splice(0, size);
    let maxLanes = Number.POSITIVE_INFINITY;
    if (freeSlots > 1) {
      const freeLanes = new Set<string>();
      for (const item of this.pending) if (!this.busyLanes.has(item.lane!)) freeLanes.add(item.lane!);
      maxLanes = Math.ceil(freeLanes.size / freeSlots);
    }
    const batch: ConnectorMessage[] = [];
    const lanes = new Set<string>();
    const kept: ConnectorMessage[] = [];
    for (const item of this.pending) {
      const lane = item.lane!;
      const isTakeable = batch.length < size && !this.busyLanes.has(lane) && (lanes.has(lane) || lanes.size < maxLanes);
      if (isTakeable) {
        batch.push(item);
        lanes.add(lane);
      } else kept.push(item);
    }
    this.pending = kept;
    return batch;
  }

  /** The batch is in flight: its lanes are busy until `release` with what this returns. */
  hold(batch: readonly ConnectorMessage[]): ReadonlySet<string> {
    const lanes = new Set<string>();
    for (const item of batch) if (item.lane !== undefined) lanes.add(item.lane);
    for (const lane of lanes) this.busyLanes.set(lane, (this.busyLanes.get(lane) ?? 0) + 1);
    return lanes;
  }

  release(lanes: ReadonlySet<string>): void {
    for (const lane of lanes) {
      const n = (this.busyLanes.get(lane) ?? 1) - 1;
      if (n <= 0) this.busyLanes.delete(lane);
      else this.busyLanes.set(lane, n);
    }
  }
}
