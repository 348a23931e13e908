/**
 * A session's life apart from its packets: recovery from the store, resumption, takeover, the
 * will and expiry timers, and what its connection's close means for it. The Broker builds one;
 * handlers reach it as `BrokerContext.lifecycle`, the cluster through the Broker's delegates.
 */
import type { Authorizer } from '../auth/index.js';
import type { Clock } from '../clock/index.js';
import type { ClientEventLog, Logger } from '../observability/index.js';
import { ReasonCode, SESSION_NEVER_EXPIRES } from '../protocol/index.js';
import type { OverflowPolicy, Session, SessionRegistry } from '../session/index.js';
import type { GroupCommitter, Store, StoredSession, SubscriptionRecord } from '../store/index.js';
import type { ClientConnection, ClientRegistry, SessionLifecycle } from './context.js';
import type { Router } from './router.js';
import { SessionExpiryTimers } from './session-expiry.js';
import type { BrokerStats } from './stats.js';
import { WillDelayTimers } from './will-delay.js';

export interface SessionLifecycleParts {
  store: Store;
  committer: GroupCommitter;
  sessions: SessionRegistry;
  router: Router;
  clients: ClientRegistry;
  stats: BrokerStats;
  logger: Logger;
  clientEvents: ClientEventLog;
  authorizer: Authorizer;
  now: () => number;
  clock: Clock;
}

export class BrokerSessionLifecycle implements SessionLifecycle {
  private readonly expiryTimers: SessionExpiryTimers;
  private readonly willTimers: WillDelayTimers;
  /** Recovered sessions whose incoming QoS 2 ids came with the sessions: their CONNECT reads none. */
  private readonly incomingRestored = new WeakSet<Session>();

  constructor(private readonly parts: SessionLifecycleParts) {
    const { clock, sessions } = parts;
    this.expiryTimers = new SessionExpiryTimers(clock, (clientId) => this.expireSession(clientId));
    this.willTimers = new WillDelayTimers(clock, (clientId) => {
      const session = sessions.get(clientId);
      if (session && !session.isOnline) this.publishWill(session);
    });
  }

  /** Loads sessions, subscriptions and retained messages; queues load when their client returns. */
  async recover(): Promise<void> {
    const { store, router, sessions, committer, logger } = this.parts;
    const now = this.parts.now();
    const stored = await store.loadSessions();
    let expired = 0;
    for (const storedSession of stored) {
      if (!this.restoreSession(storedSession, now)) expired++;
    }
    for (const message of await store.loadRetained()) router.restoreRetained(message);
    await committer.drain();
    if (stored.length > 0 || router.retained.size > 0) {
      logger.info(
        { sessions: sessions.size, expired, retained: router.retained.size, subscriptions: router.subscriptionCount },
        'recovered state from the store',
      );
    }
  }

  /**
   * Puts a session read from the store back into memory, its subscriptions into the router and
   * its timers running (its will is due: it was connected when its broker or node stopped).
   * Returns false, deleting it, when it has expired meanwhile. Used at start and by the cluster.
   */
  restoreSession(storedSession: StoredSession, now: number): boolean {
    const { session: record, subscriptions } = storedSession;
    const disconnectedAt = record.disconnectedAt ?? now;
    if (SessionExpiryTimers.expiresAt(disconnectedAt, record.expiryInterval) <= now) {
      this.parts.committer.add({ type: 'deleteSession', clientId: record.clientId });
      return false;
    }
    const session = this.parts.sessions.create(record.clientId, record.protocolVersion, record.expiryInterval);
    session.disconnectedAt = disconnectedAt;
    session.username = record.username;
    session.markRecovered(storedSession.outgoingCount, storedSession.nextOutgoingSeq, storedSession.firstOutgoingSeq);
    if (storedSession.incomingQos2Ids !== undefined) {
      // Only the client changes them, and it is not connected: the same as reading them at its CONNECT.
      session.restoreIncomingQos2(storedSession.incomingQos2Ids);
      this.incomingRestored.add(session);
    }
    for (const subscription of subscriptions) {
      session.subscriptions.set(subscription.filter, subscription);
      this.parts.router.addSubscription(record.clientId, subscription);
    }
    if (record.will) {
      // The client was connected when the broker stopped without a DISCONNECT: its will is due.
      session.will = record.will;
      this.scheduleWill(session);
    }
    if (record.disconnectedAt === undefined) session.saveRecord();
    this.expiryTimers.schedule(record.clientId, disconnectedAt, record.expiryInterval);
    return true;
  }

  async loadSessionState(session: Session): Promise<void> {
    if (session.isOutgoingLoaded) return;
    const store = this.parts.store;
    if (!this.incomingRestored.delete(session)) {
      // Incoming QoS 2 ids only change while the client is connected, which it is not yet.
      const incoming = await store.loadIncomingQos2(session.clientId);
      session.restoreIncomingQos2(incoming, store.incomingRoutingIds?.(session.clientId));
    }
    await session.loadOutgoing((span) => store.loadOutgoing(session.clientId, span));
  }

  discardSession(session: Session): void {
    for (const filter of session.subscriptions.keys()) this.parts.router.removeSubscription(session.clientId, filter);
    this.expiryTimers.cancel(session.clientId);
    this.willTimers.cancel(session.clientId);
    this.parts.sessions.discard(session);
  }

  cancelSessionTimers(clientId: string): void {
    this.expiryTimers.cancel(clientId);
    this.willTimers.cancel(clientId);
  }

  /** Every timer, at shutdown. */
  cancelAll(): void {
    this.expiryTimers.cancelAll();
    this.willTimers.cancelAll();
  }

  takeOver(clientId: string, newcomer: ClientConnection): void {
    // [3.1.1 MQTT-3.1.4-2] [5.0 MQTT-3.1.4-3] a client already connected with this id is disconnected (5.0: 0x8E).
    const existing = this.parts.clients.get(clientId);
    if (!existing || existing === newcomer) return;
    existing.isTakenOver = true;
    existing.disconnectWithReason(ReasonCode.SessionTakenOver, 'another connection took over the session');
    existing.destroy('session-taken-over');
  }

  register(connection: ClientConnection): void {
    const stats = this.parts.stats;
    this.parts.clients.set(connection.clientId, connection);
    stats.clientsConnected++;
    stats.clientsMaximum = Math.max(stats.clientsMaximum, stats.clientsConnected);
  }

  /**
   * An in-process client (a bridge): a never-expiring persistent session with exactly these
   * subscriptions, its stored deliveries loaded. The caller attaches its own SessionLink.
   */
  async openInternalSession(clientId: string, subscriptions: readonly SubscriptionRecord[], options: { overflowPolicy: OverflowPolicy }): Promise<Session> {
    const { sessions, router, committer } = this.parts;
    let session = sessions.get(clientId);
    if (!session) session = sessions.create(clientId, 5, SESSION_NEVER_EXPIRES);
    this.cancelSessionTimers(clientId);
    session.expiryInterval = SESSION_NEVER_EXPIRES;
    session.overflowPolicy = options.overflowPolicy;
    await this.loadSessionState(session);
    const wanted = new Set(subscriptions.map((s) => s.filter));
    for (const filter of [...session.subscriptions.keys()]) {
      if (!wanted.has(filter)) {
        session.deleteSubscription(filter);
        router.removeSubscription(clientId, filter);
      }
    }
    for (const subscription of subscriptions) {
      session.setSubscription(subscription);
      router.addSubscription(clientId, subscription);
    }
    session.saveRecord();
    await committer.drain();
    return session;
  }

  private expireSession(clientId: string): void {
    const session = this.parts.sessions.get(clientId);
    if (!session || session.isOnline) return;
    // A will still waiting for its delay goes out when the session ends [5.0 MQTT-3.1.2-8].
    if (session.will) this.publishWill(session);
    this.parts.logger.debug({ clientId }, 'session expired');
    this.discardSession(session);
  }

  /** Publishes the session's will now, or after its delay if the session outlives that. */
  private scheduleWill(session: Session): void {
    const will = session.will;
    if (!will) return;
    if (will.delayInterval > 0 && session.expiryInterval > 0) {
      this.willTimers.schedule(session.clientId, Math.min(will.delayInterval, session.expiryInterval));
    } else {
      this.publishWill(session);
    }
  }

  private publishWill(session: Session): void {
    const will = session.will;
    if (!will) return;
    session.will = undefined;
    session.saveRecord();
    // Wills obey the ACL like any PUBLISH.
    if (!this.parts.authorizer.canPublish({ clientId: session.clientId, username: session.username }, will.topic)) {
      this.parts.logger.info({ clientId: session.clientId, topic: will.topic }, 'will not published: not authorized');
      return;
    }
    const { delayInterval: _delay, ...message } = will;
    const expiryInterval = message.properties?.messageExpiryInterval;
    if (expiryInterval !== undefined) message.expiresAt = this.parts.now() + expiryInterval * 1000;
    this.parts.stats.countReceived(message.qos, message.payload.length);
    this.parts.router.route(message, session.clientId);
  }

  onConnectionClosed(connection: ClientConnection): void {
    const session = connection.session;
    if (!session) return;
    const { stats, clientEvents, clients, router } = this.parts;
    connection.session = undefined;
    const reason = connection.closeReason ?? 'connection-lost';
    stats.disconnectsByReason[reason] = (stats.disconnectsByReason[reason] ?? 0) + 1;
    clientEvents.log('client disconnected', () => ({ clientId: session.clientId, remoteAddress: connection.remoteAddress, protocol: connection.protocolVersion, reason }));
    if (clients.get(connection.clientId) === connection) {
      clients.delete(connection.clientId);
      stats.clientsConnected--;
    }
    const now = this.parts.now();
    session.detach(now);
    router.redistributeShared(session);
    if (!connection.isDisconnectClean) this.scheduleWill(session);
    else session.will = undefined;
    if (session.expiryInterval === 0) {
      this.discardSession(session);
      return;
    }
    session.saveRecord();
    this.expiryTimers.schedule(session.clientId, now, session.expiryInterval);
  }
}
