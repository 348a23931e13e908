/** Every session the broker knows, online or not, by client id. */
import type { CommitLog } from '../store/index.js';
import type { ProtocolVersion } from '../protocol/index.js';
import { Session, type SessionEvents, type SessionLimits } from './session.js';

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly commitLog: CommitLog,
    private readonly limits: SessionLimits,
    private readonly events: SessionEvents,
  ) {}

  get(clientId: string): Session | undefined {
    return this.sessions.get(clientId);
  }

  create(clientId: string, protocolVersion: ProtocolVersion, expiryInterval: number): Session {
    const session = new Session(clientId, protocolVersion, expiryInterval, this.commitLog, this.limits, this.events);
    this.sessions.set(clientId, session);
    return session;
  }

  /** Forgets the session and, if it was persistent, deletes it from the store. */
  discard(session: Session): void {
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    session.discard();
  }

  get size(): number {
    return this.sessions.size;
  }

  values(): IterableIterator<Session> {
    return this.sessions.values();
  }
}
