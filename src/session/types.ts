/** The types a session's parts share with whatever holds the session, and its delivery outcomes. */
import type { OutgoingRecord } from '../store/index.js';

/** What a session needs from the connection that currently holds it. */
export interface SessionLink {
  /** Whether the socket can take more bytes now without buffering beyond its bound. */
  readonly isWritable: boolean;
  sendPublish(delivery: OutgoingRecord, isDuplicate: boolean): void;
  sendPubrel(packetId: number): void;
}

/** Why a delivery was not made; counted by the broker and per session. */
export type DropReason = 'queue-full' | 'offline-qos0' | 'expired' | 'too-large';

export interface SessionLimits {
  /** Largest number of unacknowledged QoS 1/2 deliveries to the client (our own bound). */
  maxInflight: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
}

/** What became of one delivery handed to `Session.deliver`. */
export const DeliveryOutcome = {
  /** Sent, or queued to be sent. */
  Accepted: 0,
  /** The queue bound refused it (MQTT 5 publishers may hear 0x97 Quota exceeded). */
  RefusedByQuota: 1,
  /** Not kept by rule: QoS 0 for an offline client. */
  NotKept: 2,
} as const;
export type DeliveryOutcome = (typeof DeliveryOutcome)[keyof typeof DeliveryOutcome];
