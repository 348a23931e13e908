/** Types the broker shares with the transports that feed it. */
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

/** Accepts byte streams (TCP, TLS, WebSocket…) and hands each to the broker. */
export interface Listener {
  /** e.g. "mqtt://127.0.0.1:1883", for logs. */
  readonly description: string;
  start(accept: (stream: Duplex, remoteAddress: string) => void): Promise<AddressInfo>;
  /** Stops accepting; connections already handed over are the broker's to close. */
  close(): Promise<void>;
}
