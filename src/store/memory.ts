/**
 * A Store that lives in this process only: for tests and `--store memory`. It keeps the same
 * records as the durable backends so the contract suite checks both alike.
 */
import type {
  Message,
  OutgoingRecord,
  SessionRecord,
  Store,
  StoreOp,
  StoredSession,
  SubscriptionRecord,
} from './types.js';

interface SessionEntry {
  session: SessionRecord;
  subscriptions: Map<string, SubscriptionRecord>;
  outgoing: Map<number, OutgoingRecord>;
  incomingQos2: Set<number>;
}

export class MemoryStore implements Store {
  private readonly sessions = new Map<string, SessionEntry>();
  private readonly retained = new Map<string, Message>();
  private isOpen = false;

  async open(): Promise<void> {
    this.isOpen = true;
  }

  async close(): Promise<void> {
    this.isOpen = false;
  }

  async write(ops: readonly StoreOp[]): Promise<void> {
    if (!this.isOpen) throw new Error('store is not open');
    for (const op of ops) this.apply(op);
  }

  private entry(clientId: string): SessionEntry | undefined {
    return this.sessions.get(clientId);
  }

  private apply(op: StoreOp): void {
    switch (op.type) {
      case 'putSession': {
        const existing = this.sessions.get(op.session.clientId);
        if (existing) existing.session = op.session;
        else
          this.sessions.set(op.session.clientId, {
            session: op.session,
            subscriptions: new Map(),
            outgoing: new Map(),
            incomingQos2: new Set(),
          });
        return;
      }
      case 'deleteSession':
        this.sessions.delete(op.clientId);
        return;
      // Records of a session that does not exist are dropped, as the level backend does through
      // its session-owned key prefixes being cleared by deleteSession.
      case 'putSubscription':
        this.entry(op.clientId)?.subscriptions.set(op.subscription.filter, op.subscription);
        return;
      case 'deleteSubscription':
        this.entry(op.clientId)?.subscriptions.delete(op.filter);
        return;
      case 'putOutgoing':
        this.entry(op.clientId)?.outgoing.set(op.record.seq, op.record);
        return;
      case 'deleteOutgoing':
        this.entry(op.clientId)?.outgoing.delete(op.seq);
        return;
      case 'putIncomingQos2':
        this.entry(op.clientId)?.incomingQos2.add(op.packetId);
        return;
      case 'deleteIncomingQos2':
        this.entry(op.clientId)?.incomingQos2.delete(op.packetId);
        return;
      case 'putRetained':
        this.retained.set(op.message.topic, op.message);
        return;
      case 'deleteRetained':
        this.retained.delete(op.topic);
        return;
    }
  }

  async loadSessions(): Promise<StoredSession[]> {
    return [...this.sessions.values()].map((e) => {
      let last = 0;
      for (const seq of e.outgoing.keys()) if (seq > last) last = seq;
      return {
        session: e.session,
        subscriptions: [...e.subscriptions.values()],
        outgoingCount: e.outgoing.size,
        nextOutgoingSeq: last + 1,
      };
    });
  }

  async loadRetained(): Promise<Message[]> {
    return [...this.retained.values()];
  }

  async loadOutgoing(clientId: string): Promise<OutgoingRecord[]> {
    const entry = this.sessions.get(clientId);
    if (!entry) return [];
    return [...entry.outgoing.values()].sort((a, b) => a.seq - b.seq);
  }

  async loadIncomingQos2(clientId: string): Promise<number[]> {
    return [...(this.sessions.get(clientId)?.incomingQos2 ?? [])];
  }
}
