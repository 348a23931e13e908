/** The types a session's parts share with whatever holds the session (types only). */
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
