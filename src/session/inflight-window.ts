/**
 * The deliveries sent to the client and not yet acknowledged, by packet id, in the order they were
 * sent; the window that bounds them; and the packet ids, which skip those still in flight.
 */
import type { OutgoingRecord } from '../store/index.js';

const EMPTY: ReadonlyMap<number, OutgoingRecord> = new Map();

export class InflightWindow {
  /** Made on first use: most idle sessions of a fleet have nothing in flight. */
  private byPacketId: Map<number, OutgoingRecord> | undefined;
  private lastPacketId = 0;
  /** min(client's Receive Maximum, our maxInflight), at least 1. */
  private limit: number;

  constructor(private maxInflight: number) {
    this.limit = maxInflight;
  }

  /** Our own bound changes (an in-process consumer's window); the next resize applies it. */
  setMaxInflight(maxInflight: number): void {
    this.maxInflight = maxInflight;
    this.limit = Math.min(this.limit, maxInflight);
  }

  /** A new connection brings its own Receive Maximum (MQTT 5; 65,535 for 3.1.1). */
  resize(clientReceiveMaximum: number): void {
    this.limit = Math.max(1, Math.min(clientReceiveMaximum, this.maxInflight));
  }

  get size(): number {
    return this.byPacketId?.size ?? 0;
  }

  get isFull(): boolean {
    return this.size >= this.limit;
  }

  get(packetId: number): OutgoingRecord | undefined {
    return this.byPacketId?.get(packetId);
  }

  has(packetId: number): boolean {
    return this.byPacketId?.has(packetId) === true;
  }

  /** The record must carry its packet id. */
  add(record: OutgoingRecord): void {
    (this.byPacketId ??= new Map()).set(record.packetId!, record);
  }

  delete(packetId: number): boolean {
    return this.byPacketId?.delete(packetId) === true;
  }

  /** In the order they were sent (a resend after reconnect keeps it [3.1.1 MQTT-4.6.0-1]). */
  values(): IterableIterator<OutgoingRecord> {
    return (this.byPacketId ?? EMPTY).values();
  }

  clear(): void {
    this.byPacketId = undefined;
  }

  /** Skips ids still in flight: an id is not reused until its flow completes [3.1.1 MQTT-2.3.1-4]. */
  nextPacketId(): number {
    if (this.size >= 0xffff) {
      // Every id is in flight (only a queued delivery asks now): any id will do, it is checked
      // again when the delivery is sent.
      this.lastPacketId = this.lastPacketId >= 0xffff ? 1 : this.lastPacketId + 1;
      return this.lastPacketId;
    }
    do {
      this.lastPacketId = this.lastPacketId >= 0xffff ? 1 : this.lastPacketId + 1;
    } while (this.byPacketId?.has(this.lastPacketId));
    return this.lastPacketId;
  }
}
