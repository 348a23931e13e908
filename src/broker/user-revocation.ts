/**
 * The broker side of runtime user management: when the user store disables or deletes a user,
 * that user's live connections are closed (DISCONNECT 0x87 Not authorized on MQTT 5 — 0x8A
 * Banned is a CONNACK-only code [5.0 3.14.2.1] — the refusal at the next CONNECT says 0x8A);
 * when a user's grants change, the subscriptions its sessions may no longer hold are removed, as
 * if the client had unsubscribed. Deliveries on the subscriptions that stay are checked per
 * message (canReceive) anyway.
 */
import { KeyedTimers } from '../clock/index.js';
import { ReasonCode } from '../protocol/index.js';
import { parseSharedFilter } from '../topics/index.js';
import { authorize } from './authorize.js';
import type { Broker } from './broker.js';

/** Closes every connection authenticated as `username`; returns how many. */
export function disconnectUser(broker: Broker, username: string, why: string): number {
  let closed = 0;
  for (const connection of [...broker.clients.values()]) {
    if (connection.username !== username) continue;
    connection.disconnectWithReason(ReasonCode.NotAuthorized, why);
    connection.destroy('admin');
    closed++;
  }
  if (closed > 0) broker.logger.info({ username, connections: closed }, `user's connections closed: ${why}`);
  return closed;
}

/** Drops the subscriptions of `username`'s sessions that the authorizer now refuses; returns how many. */
export function recheckUserSubscriptions(broker: Broker, username: string): number {
  let removed = 0;
  for (const session of broker.sessions.values()) {
    if (session.username !== username) continue;
    for (const filter of [...session.subscriptions.keys()]) {
      // An answer still to come (an HTTP service's) keeps the subscription: each delivery on it is checked anyway.
      if (authorize(broker.authorizer, { clientId: session.clientId, username }, 'subscribe', filter) !== false) continue;
      if (!session.deleteSubscription(filter)) continue;
      broker.router.removeSubscription(session.clientId, filter);
      const shared = parseSharedFilter(filter);
      if (shared) broker.router.redistributeShared(session, `${shared.group}/${shared.filter}`);
      removed++;
    }
  }
  if (removed > 0) broker.logger.info({ username, subscriptions: removed }, 'subscriptions removed after a change of grants');
  return removed;
}

/**
 * Closes a client when its credential expires (a JWT's exp): DISCONNECT 0x87 at that moment, so a
 * token's lifetime bounds the connection's, not only the CONNECT. `isCurrent` says whether the
 * credential is still the one the connection authenticated with (a re-authentication replaces it).
 */
export class CredentialExpiry {
  private readonly timers: KeyedTimers<string>;

  constructor(private readonly broker: Broker) {
    this.timers = new KeyedTimers(broker.clock);
  }

  arm(clientId: string, username: string | undefined, expiresAt: number, isCurrent: () => boolean): void {
    this.timers.schedule(clientId, expiresAt - this.broker.clock.now(), () => {
      if (!isCurrent()) return;
      // Checked again when the timer fires: an injected clock's `now` may say it is not yet time.
      if (this.broker.clock.now() < expiresAt) return this.arm(clientId, username, expiresAt, isCurrent);
      const connection = this.broker.clients.get(clientId);
      if (!connection || connection.username !== username) return;
      this.broker.logger.info({ clientId, username }, 'credential expired; closing the connection');
      connection.disconnectWithReason(ReasonCode.NotAuthorized, 'credential expired');
      connection.destroy('admin');
    });
  }

  cancel(clientId: string): void {
    this.timers.cancel(clientId);
  }

  cancelAll(): void {
    this.timers.cancelAll();
  }
}
