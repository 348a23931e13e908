/** Types the broker shares with the transports that feed it. */
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

/** What a transport knows about an accepted connection. */
export interface ConnectionInfo {
  /** "address:port" of the peer (after PROXY protocol, the real client's). */
  remoteAddress: string;
  /** TLS client certificate identity (subject CN, else the first SAN), when one was verified. */
  certificateIdentity?: string;
  /** Position of the accepting listener in the config's `listeners`, for per-listener auth chains. */
  listenerIndex?: number;
}

/** Accepts byte streams (TCP, TLS, WebSocket…) and hands each to the broker. */
export interface Listener {
  /** e.g. "mqtt://127.0.0.1:1883", for logs. */
  readonly description: string;
  start(accept: (stream: Duplex, info: ConnectionInfo) => void): Promise<AddressInfo>;
  /** Stops accepting; connections already handed over are the broker's to close. */
  close(): Promise<void>;
}

/** Something that lives as long as the broker runs (a bridge): started after the listeners, stopped first. */
export interface BrokerService {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** For /metrics and the admin API. */
  readonly status: ServiceStatus;
}

export interface ServiceStatus {
  name: string;
  isConnected: boolean;
  queued: number;
  inflight: number;
  forwarded: number;
  received: number;
}

/**
 * Cluster mode (src/cluster/): what the broker asks of the service that makes it one node of
 * several. Absent on a single node.
 */
export interface ClusterHooks {
  readonly nodeId: string;
  /** After the store opened, before the listeners: engine views loaded, inbox consumed. */
  start(): Promise<void>;
  /** After the connections closed and the committer drained. */
  stop(): Promise<void>;
  /** Engine connected and the route and retained views loaded (/ready). */
  readonly isReady: boolean;
  /**
   * A CONNECT claims its client id cluster-wide: resolves true once this node owns it (any
   * session the id has elsewhere released and loaded here), false when another CONNECT won.
   */
  claim(clientId: string, isCleanStart: boolean): Promise<boolean>;
  /** For the admin API and $SYS: nodes, their state, inbox lag. */
  status(): Promise<Record<string, unknown>>;
}
