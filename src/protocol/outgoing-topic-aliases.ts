/**
 * MQTT 5 topic aliases for the PUBLISHes the broker sends one client (spec 3.3.2.3.4): the first
 * PUBLISH of a topic carries the topic and an alias, later ones an empty topic and the alias only.
 * The table lives and dies with one network connection [5.0 MQTT-3.3.2-7] and never holds more
 * aliases than the client accepts [5.0 MQTT-3.1.2-26] [5.0 MQTT-3.3.2-11].
 *
 * Replacement favours frequent topics: each alias counts its uses, a topic without an alias counts
 * how often it was sent without one, and when the table is full a newcomer takes the alias of the
 * least-used entry only once it has been seen more often than that entry has been used. All counts
 * halve every `16 × maximum` lookups, so yesterday's busy topic does not hold its alias forever.
 * A fleet with more topics than aliases therefore keeps its busiest topics aliased instead of
 * rewriting aliases on every message (each rewrite costs the full topic again).
 */

interface AliasEntry {
  topic: string;
  alias: number;
  uses: number;
}

export class OutgoingTopicAliases {
  private readonly byTopic = new Map<string, AliasEntry>();
  /** Index = alias (1-based; 0 is never an alias [5.0 MQTT-3.3.2-8]). */
  private readonly byAlias: Array<AliasEntry | undefined> = [undefined];
  /** Topics sent without an alias, and how often: bounded to 4 × maximum names. */
  private readonly unaliased = new Map<string, number>();
  private lookups = 0;

  /** `maximum`: at most this many aliases, 1 … 65535 (the smaller of the client's and ours). */
  constructor(readonly maximum: number) {}

  /**
   * The alias to send `topic` with: > 0 = an alias the client already knows (send an empty topic),
   * < 0 = the alias to (re)define now (send the topic and the alias; call `assign` once sent),
   * 0 = send the topic without an alias.
   */
  lookup(topic: string): number {
    if (++this.lookups >= this.maximum * 16) this.age();
    const entry = this.byTopic.get(topic);
    if (entry) {
      entry.uses++;
      return entry.alias;
    }
    const seen = (this.unaliased.get(topic) ?? 0) + 1;
    if (this.byAlias.length <= this.maximum) return -this.byAlias.length;
    let victim: AliasEntry | undefined;
    for (let alias = 1; alias < this.byAlias.length; alias++) {
      const candidate = this.byAlias[alias]!;
      if (!victim || candidate.uses < victim.uses) victim = candidate;
    }
    if (victim && seen > victim.uses) return -victim.alias;
    if (!this.unaliased.has(topic) && this.unaliased.size >= this.maximum * 4) {
      // Forget the oldest name seen without an alias (Map keeps insertion order).
      this.unaliased.delete(this.unaliased.keys().next().value!);
    }
    this.unaliased.set(topic, seen);
    return 0;
  }

  /** Records that `topic` was sent defining `alias` (the negated value `lookup` returned). */
  assign(topic: string, alias: number): void {
    const previous = this.byAlias[alias];
    if (previous) this.byTopic.delete(previous.topic);
    const entry: AliasEntry = { topic, alias, uses: 1 };
    this.byAlias[alias] = entry;
    this.byTopic.set(topic, entry);
    this.unaliased.delete(topic);
  }

  /** Aliases in use (for tests). */
  get size(): number {
    return this.byTopic.size;
  }

  private age(): void {
    this.lookups = 0;
    for (const entry of this.byTopic.values()) entry.uses >>>= 1;
    for (const [topic, seen] of this.unaliased) {
      if (seen <= 1) this.unaliased.delete(topic);
      else this.unaliased.set(topic, seen >>> 1);
    }
  }
}
