/**
 * The deliveries sent to the client and not yet acknowledged, by packet id, in the order they were
 * sent; the window that bounds them; and the packet ids, which skip those still in flight.
 */
import type { OutgoingRecord } from '../store/index.js';

export class InflightWindow {
  private readonly byPacketId = new Map<number, OutgoingRecord>();
  private lastPacketId = 0;
  /** min(client's Receive Maximum, our maxInflight), at least 1. */
  private limit: number;

  constructor(private readonly maxInflight: number) {
    this.limit = maxInflight;
  }

  /** A new connection brings its own Receive Maximum (MQTT 5; 65,535 for 3.1.1). */
  resize(clientReceiveMaximum: number): void {
    this.limit = Math.max(1, Math.min(clientReceiveMaximum, this.maxInflight));
  }

  get size(): number {
    return this.byPacketId.size;
  }

  get isFull(): boolean {
    return this.byPacketId.size >= this.limit;
  }

  get(packetId: number): OutgoingRecord | undefined {
    return this.byPacketId.get(packetId);
  }

  has(packetId: number): boolean {
    return this.byPacketId.has(packetId);
  }

  /** The record must carry its packet id. */
  add(record: OutgoingRecord): void {
    this.byPacketId.set(record.packetId!, record);
  }

  delete(packetId: number): boolean {
    return this.byPacketId.delete(packetId);
  }

  /** In the order they were sent (a resend after reconnect keeps it [MQTT-4.6.0-1]). */
  values(): IterableIterator<OutgoingRecord> {
    return this.byPacketId.values();
  }

  clear(): void {
    this.byPacketId.clear();
  }

  /** Skips ids still in flight: an id is not reused until its flow completes [3.1.1 MQTT-2.3.1-4]. */
  nextPacketId(): number {
    if (this.byPacketId.size >= 0xffff) {
      // Every id is in flight (only a queued delivery asks now): any id will do, it is checked
      // again when the delivery is sent.
      this.lastPacketId = this.lastPacketId >= 0xffff ? 1 : this.lastPacketId + 1;
      return this.lastPacketId;
    }
    do {
      this.lastPacketId = this.lastPacketId >= 0xffff ? 1 : this.lastPacketId + 1;
    } while (this.byPacketId.has(this.lastPacketId));
    return this.lastPacketId;
  }
}
