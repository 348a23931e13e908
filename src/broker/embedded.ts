/**
 * The broker as the npm package offers it (`createBroker()` returns one): start, stop, where it
 * listens, in-process publishing and services, and the read-mostly `admin` view. The Broker class
 * itself stays internal, so its parts (router, sessions, commit log) are not public API.
 */
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { BrokerConfig } from '../config/index.js';
import type { HttpRoute, Logger } from '../observability/index.js';
import type { Message } from '../store/index.js';
import type { BrokerAdmin } from './admin.js';
import type { BrokerService, ConnectionInfo } from './types.js';

export interface EmbeddedBroker {
  readonly config: Readonly<BrokerConfig>;
  readonly logger: Logger;
  /** Reads of the running broker (sessions, clients, retained, counters) and admin actions. */
  readonly admin: BrokerAdmin;
  readonly isRunning: boolean;
  /** Opens the store, recovers what it holds, then starts every listener. */
  listen(): Promise<AddressInfo[]>;
  /** Closes every connection and listener, then the store; sessions stay in the store. */
  close(): Promise<void>;
  /** The bound address of the first listener. */
  address(): AddressInfo;
  readonly boundAddresses: readonly AddressInfo[];
  /** Where the admin HTTP listener is bound, when enabled. */
  readonly httpBoundAddress: AddressInfo | undefined;
  /** Applies what can change without a restart (the log level, auth files). */
  reload(config: BrokerConfig): void;
  /** Serves one client byte stream, as a listener does for each accepted connection. */
  handle(stream: Duplex, info: ConnectionInfo): void;
  /** Publishes as an in-process client; resolves once the message's effects are committed. */
  publishInternal(message: Message, publisherId: string): Promise<number>;
  /** Adds a service that starts with the broker and stops before it. */
  addService(service: BrokerService): void;
  /** More admin API routes. */
  addAdminRoutes(routes: readonly HttpRoute[]): void;
}
