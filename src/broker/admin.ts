/**
 * `BrokerAdmin`: what the admin API, the dashboard and tests may read of a running broker, and
 * the few things they may do (disconnect a client, discard a session, delete a retained message).
 * Built once by `Broker` over its context; it never hands out the router, the session registry or
 * the commit log themselves.
 */
import type { AddressInfo } from 'node:net';
import type { UserStore } from '../auth/index.js';
import type { BrokerConfig } from '../config/index.js';
import type { BrokerMetrics, Logger } from '../observability/index.js';
import type { Session } from '../session/index.js';
import type { Message, StoreHealth } from '../store/index.js';
import type { BrokerContext, ClientConnection, CloseReason } from './context.js';
import type { CountersReading } from './counters.js';
import type { BrokerStats } from './stats.js';
import type { TopicRateCounter } from './topic-rates.js';
import type { BrokerService, ClusterHooks } from './types.js';

export interface BrokerAdmin {
  readonly isRunning: boolean;
  readonly config: Readonly<BrokerConfig>;
  readonly logger: Logger;
  now(): number;
  readonly stats: BrokerStats;
  readonly metrics: BrokerMetrics;
  readonly storeHealth: Readonly<StoreHealth>;
  readonly cluster: ClusterHooks | undefined;
  readonly userStore: UserStore | undefined;
  readonly topicRates: TopicRateCounter;
  readonly boundAddresses: readonly AddressInfo[];
  readonly httpBoundAddress: AddressInfo | undefined;
  readonly services: readonly BrokerService[];
  /** Every session, online or not. */
  sessions(): IterableIterator<Session>;
  session(clientId: string): Session | undefined;
  readonly sessionCount: number;
  /** The connection of a connected client (after its CONNACK). */
  client(clientId: string): ClientConnection | undefined;
  isConnected(clientId: string): boolean;
  clients(): IterableIterator<ClientConnection>;
  readonly connectionCount: number;
  readonly subscriptionCount: number;
  retained(topic: string): Message | undefined;
  matchRetained(filter: string): Array<{ topic: string; value: Message }>;
  readonly retainedCount: number;
  /** The counters as JSON (/api/v1/stats). */
  statsSnapshot(): Record<string, unknown>;
  /** One reading of the counters table, for views generated from it (the dashboard's stats stream). */
  counters(): CountersReading;
  /** Resolves once everything added to the commit log so far is committed. */
  drain(): Promise<void>;
  /** Closes a client's connection (MQTT 5: DISCONNECT with the reason first); false if not connected. */
  disconnectClient(clientId: string, reasonCode: number, why: string, closeReason?: CloseReason): boolean;
  /** Ends a session as clean start would; false if there is none. */
  discardSession(clientId: string): boolean;
  /** Deletes a retained message as an empty retained PUBLISH would; false if there was none. */
  deleteRetained(topic: string): boolean;
}

/** What only the Broker itself knows (its state, addresses, services, counters' views). */
export interface BrokerAdminHost {
  readonly isRunning: boolean;
  readonly boundAddresses: readonly AddressInfo[];
  readonly httpBoundAddress: AddressInfo | undefined;
  readonly serviceList: readonly BrokerService[];
  readonly metrics: BrokerMetrics;
  readonly userStore: UserStore | undefined;
  statsSnapshot(): Record<string, unknown>;
  counters(): CountersReading;
}

export class BrokerAdminView implements BrokerAdmin {
  constructor(
    private readonly context: BrokerContext,
    private readonly host: BrokerAdminHost,
  ) {}

  get isRunning(): boolean {
    return this.host.isRunning;
  }
  get config(): Readonly<BrokerConfig> {
    return this.context.config;
  }
  get logger(): Logger {
    return this.context.logger;
  }
  now(): number {
    return this.context.now();
  }
  get stats(): BrokerStats {
    return this.context.stats;
  }
  get metrics(): BrokerMetrics {
    return this.host.metrics;
  }
  get storeHealth(): Readonly<StoreHealth> {
    return this.context.committer.health;
  }
  get cluster(): ClusterHooks | undefined {
    return this.context.cluster;
  }
  get userStore(): UserStore | undefined {
    return this.host.userStore;
  }
  get topicRates(): TopicRateCounter {
    return this.context.topicRates;
  }
  get boundAddresses(): readonly AddressInfo[] {
    return this.host.boundAddresses;
  }
  get httpBoundAddress(): AddressInfo | undefined {
    return this.host.httpBoundAddress;
  }
  get services(): readonly BrokerService[] {
    return this.host.serviceList;
  }
  sessions(): IterableIterator<Session> {
    return this.context.sessions.values();
  }
  session(clientId: string): Session | undefined {
    return this.context.sessions.get(clientId);
  }
  get sessionCount(): number {
    return this.context.sessions.size;
  }
  client(clientId: string): ClientConnection | undefined {
    return this.context.clients.get(clientId);
  }
  isConnected(clientId: string): boolean {
    return this.context.clients.has(clientId);
  }
  clients(): IterableIterator<ClientConnection> {
    return this.context.clients.values();
  }
  get connectionCount(): number {
    return this.context.clients.size;
  }
  get subscriptionCount(): number {
    return this.context.router.subscriptionCount;
  }
  retained(topic: string): Message | undefined {
    return this.context.router.retained.get(topic);
  }
  matchRetained(filter: string): Array<{ topic: string; value: Message }> {
    return this.context.router.retained.match(filter);
  }
  get retainedCount(): number {
    return this.context.router.retained.size;
  }
  statsSnapshot(): Record<string, unknown> {
    return this.host.statsSnapshot();
  }
  counters(): CountersReading {
    return this.host.counters();
  }
  drain(): Promise<void> {
    return this.context.committer.drain();
  }

  disconnectClient(clientId: string, reasonCode: number, why: string, closeReason: CloseReason = 'admin'): boolean {
    const connection = this.context.clients.get(clientId);
    if (!connection) return false;
    connection.disconnectWithReason(reasonCode, why);
    connection.destroy(closeReason);
    return true;
  }

  discardSession(clientId: string): boolean {
    const session = this.context.sessions.get(clientId);
    if (!session) return false;
    this.context.lifecycle.discardSession(session);
    return true;
  }

  deleteRetained(topic: string): boolean {
    const router = this.context.router;
    if (router.retained.get(topic) === undefined) return false;
    router.retain({ topic, payload: Buffer.alloc(0), qos: 0, retain: true });
    return true;
  }
}
