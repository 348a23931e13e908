/**
 * What authentication learnt about each client, kept for the authorization chain: the broker asks
 * `canPublish({clientId, username})`, so the claims' ACL, the listener and the superuser flag are
 * looked up here by client id. The entry is replaced at each successful authentication; it is
 * memory only (after a restart an offline session has none until its client authenticates again).
 */
import type { AclRule } from './rules.js';

export interface ClientContext {
  username: string | undefined;
  listenerIndex: number | undefined;
  /** The authentication entry that accepted the client (jwt, http, users, …). */
  source: string;
  acl?: AclRule[];
  attributes?: Record<string, unknown>;
  isSuperuser?: boolean;
  /** The credential's end (a JWT's exp), epoch ms. */
  expiresAt?: number;
}

export class ClientContexts {
  private readonly byClientId = new Map<string, ClientContext>();

  /** Bounded: the oldest entries (clients long gone) are forgotten first. */
  constructor(private readonly maxEntries = 1_000_000) {}

  set(clientId: string, context: ClientContext): void {
    this.byClientId.delete(clientId); // re-insert: Map order is the age order used for eviction
    this.byClientId.set(clientId, context);
    if (this.byClientId.size > this.maxEntries) this.byClientId.delete(this.byClientId.keys().next().value as string);
  }

  get(clientId: string): ClientContext | undefined {
    return this.byClientId.get(clientId);
  }

  get size(): number {
    return this.byClientId.size;
  }
}
