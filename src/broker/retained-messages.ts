/**
 * The retained messages: the last one kept per topic, within the configured bounds, each change
 * written through the commit log. The broker's own status topics ($SYS, bridge state) are kept
 * here too, in memory only and outside the users' bounds. The router calls it for every retained
 * PUBLISH; the cluster's retained view and recovery restore or forget entries without a write.
 */
import type { CommitLog, Message } from '../store/index.js';
import { RetainedIndex } from '../topics/index.js';

export interface RetainedBounds {
  maxRetainedMessages: number;
  maxRetainedBytes: number;
  /** A new retained message was not kept: the store is at a bound (it is still delivered). */
  onRetainRefused(message: Message): void;
}

export class RetainedMessages {
  readonly index = new RetainedIndex<Message>();
  private bytes = 0;
  /** Retained topics the broker itself keeps up to date ($SYS), outside the user bounds. */
  private readonly ephemeralTopics = new Set<string>();

  constructor(
    private readonly committer: CommitLog,
    private readonly bounds: RetainedBounds,
  ) {}

  /**
   * Stores or deletes the retained message of the topic (an empty payload deletes)
   * [3.1.1 MQTT-3.3.1-5] [3.1.1 MQTT-3.3.1-10] [5.0 MQTT-3.3.1-5] [5.0 MQTT-3.3.1-6].
   */
  retain(message: Message, isEphemeral = false): void {
    const index = this.index;
    if (isEphemeral) {
      // The broker's own status topics ($SYS, bridge state): few, fixed, rewritten all the time.
      // They neither count against the users' retained bounds nor reach the store.
      this.ephemeralTopics.add(message.topic);
      if (message.payload.length === 0) index.delete(message.topic);
      else index.set(message.topic, message);
      return;
    }
    const previous = index.get(message.topic);
    if (message.payload.length === 0) {
      if (previous) {
        index.delete(message.topic);
        this.bytes -= previous.payload.length;
        this.committer.add({ type: 'deleteRetained', topic: message.topic });
      }
      return;
    }
    const bytesAfter = this.bytes - (previous?.payload.length ?? 0) + message.payload.length;
    const countAfter = index.size - this.ephemeralTopics.size + (previous ? 0 : 1);
    if (countAfter > this.bounds.maxRetainedMessages || bytesAfter > this.bounds.maxRetainedBytes) {
      // At the bound the message is still delivered, just not kept; the old value stays.
      this.bounds.onRetainRefused(message);
      return;
    }
    index.set(message.topic, message);
    this.bytes = bytesAfter;
    this.committer.add({ type: 'putRetained', message });
  }

  get byteCount(): number {
    return this.bytes;
  }

  /** Forgets a retained message deleted elsewhere (cluster: another node's publish); no store write. */
  forget(topic: string): void {
    const previous = this.index.get(topic);
    if (!previous) return;
    this.index.delete(topic);
    this.bytes -= previous.payload.length;
  }

  /** Restores a retained message read from the store (no write back). */
  restore(message: Message): void {
    const previous = this.index.get(message.topic);
    this.bytes += message.payload.length - (previous?.payload.length ?? 0);
    this.index.set(message.topic, message);
  }
}
