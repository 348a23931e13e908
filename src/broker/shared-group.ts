/**
 * A shared subscription group (`$share/<name>/<filter>`, MQTT 5 4.8.2, also accepted from 3.1.1
 * clients as Mosquitto and EMQX do): each message goes to one member. Online members are
 * preferred; with none online, a persistent member holds it for the group: the first member to
 * come back takes what the offline members hold, also after a restart (Router.gatherShared).
 */
import type { Session, SessionRegistry } from '../session/index.js';
import type { SubscriptionRecord } from '../store/index.js';

export type SharedStrategy = 'round-robin' | 'random' | 'sticky';

export interface SharedMember {
  clientId: string;
  subscription: SubscriptionRecord;
}

export class SharedGroup {
  private readonly members = new Map<string, SubscriptionRecord>();
  /** Member ids in join order, the round-robin ring. */
  private ring: string[] = [];
  private cursor = 0;
  /** Sticky strategy: publisher → the member its messages went to last. */
  private readonly stickyByPublisher = new Map<string, string>();

  constructor(
    /** `<name>/<filter>`: identifies the group in outgoing records, for redistribution. */
    readonly key: string,
    readonly filter: string,
  ) {}

  get size(): number {
    return this.members.size;
  }

  has(clientId: string): boolean {
    return this.members.has(clientId);
  }

  get memberIds(): readonly string[] {
    return this.ring;
  }

  add(clientId: string, subscription: SubscriptionRecord): void {
    if (!this.members.has(clientId)) this.ring.push(clientId);
    this.members.set(clientId, subscription);
  }

  remove(clientId: string): boolean {
    if (!this.members.delete(clientId)) return false;
    this.ring = this.ring.filter((id) => id !== clientId);
    if (this.cursor >= this.ring.length) this.cursor = 0;
    for (const [publisher, member] of this.stickyByPublisher) if (member === clientId) this.stickyByPublisher.delete(publisher);
    return true;
  }

  /** Whether a member other than `exclude` could take a message now or later. */
  hasOtherMember(sessions: SessionRegistry, exclude: string): boolean {
    return this.ring.some((id) => {
      if (id === exclude) return false;
      const session = sessions.get(id);
      return session !== undefined && (session.isOnline || session.isPersistent);
    });
  }

  /**
   * The member that gets the next message, or undefined when no member can take it.
   * `exclude` skips a member that is leaving (redistribution).
   */
  pick(sessions: SessionRegistry, strategy: SharedStrategy, publisherId: string | undefined, exclude?: string): SharedMember | undefined {
    if (this.ring.length === 0) return undefined;
    if (strategy === 'sticky' && publisherId !== undefined) {
      const stuck = this.stickyByPublisher.get(publisherId);
      if (stuck !== undefined && stuck !== exclude && sessions.get(stuck)?.isOnline) return this.member(stuck);
    }
    const chosen = this.choose(sessions, strategy, exclude, (s) => s.isOnline) ?? this.choose(sessions, strategy, exclude, (s) => s.isPersistent);
    if (chosen && strategy === 'sticky' && publisherId !== undefined) this.stickyByPublisher.set(publisherId, chosen.clientId);
    return chosen;
  }

  private choose(
    sessions: SessionRegistry,
    strategy: SharedStrategy,
    exclude: string | undefined,
    isEligible: (session: Session) => boolean,
  ): SharedMember | undefined {
    const n = this.ring.length;
    const start = strategy === 'random' ? Math.floor(Math.random() * n) : this.cursor % n;
    for (let i = 0; i < n; i++) {
      const index = (start + i) % n;
      const clientId = this.ring[index]!;
      if (clientId === exclude) continue;
      const session = sessions.get(clientId);
      if (!session || !isEligible(session)) continue;
      if (strategy !== 'random') this.cursor = (index + 1) % n;
      return this.member(clientId);
    }
    return undefined;
  }

  private member(clientId: string): SharedMember {
    return { clientId, subscription: this.members.get(clientId)! };
  }
}
