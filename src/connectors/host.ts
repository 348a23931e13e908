/**
 * What a connector needs from the broker, and nothing more. `brokerHost` adapts the Broker to it:
 * a later refactor of the Broker touches that adapter only.
 */
import type { Broker } from '../broker/index.js';
import type { Logger } from '../observability/index.js';
import type { DropReason, SessionLink } from '../session/index.js';
import type { Message, SubscriptionRecord } from '../store/index.js';

/** The connector's view of its internal persistent session. */
export interface ConnectorSession {
  readonly queuedCount: number;
  readonly inflightCount: number;
  readonly isOnline: boolean;
  attach(link: SessionLink, window: number): void;
  detach(now: number): void;
  /** The backend confirmed this delivery: the session forgets it (and the store deletes it). */
  acknowledge(packetId: number): boolean;
  /** Sends what back-pressure held back. */
  resume(): void;
}

export interface ConnectorSessionOptions {
  dropsOldestWhenFull: boolean;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  /** Deliveries handed to the connector before it confirms any (its in-flight window). */
  window: number;
  storesQos0: boolean;
  onDrop(reason: DropReason): void;
}

export interface ConnectorHost {
  readonly logger: Logger;
  now(): number;
  /** A never-expiring persistent session with exactly these subscriptions, its stored deliveries loaded. */
  openSession(clientId: string, subscriptions: readonly SubscriptionRecord[], options: ConnectorSessionOptions): Promise<ConnectorSession>;
  /** Publishes as the connector; resolves once the message's effects are committed. */
  publish(message: Message, publisherId: string): Promise<number>;
  /** A retained status topic kept in memory only ($SYS). */
  publishStatus(topic: string, payload: string): void;
}

export function brokerHost(broker: Broker): ConnectorHost {
  return {
    logger: broker.logger,
    now: () => broker.now(),
    async openSession(clientId, subscriptions, options) {
      const session = await broker.openInternalSession(clientId, subscriptions, { overflowPolicy: options.dropsOldestWhenFull ? 'drop-oldest' : 'refuse-newest' });
      session.configureInternal({
        limits: { maxInflight: options.window, maxQueuedMessages: options.maxQueuedMessages, maxQueuedBytes: options.maxQueuedBytes },
        storesQos0: options.storesQos0,
        onDrop: options.onDrop,
      });
      return session;
    },
    publish: (message, publisherId) => broker.publishInternal(message, publisherId),
    publishStatus: (topic, payload) => broker.publishEphemeralRetained({ topic, payload: Buffer.from(payload), qos: 0, retain: true }),
  };
}
