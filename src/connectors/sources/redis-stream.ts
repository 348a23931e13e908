/**
 * Redis Streams source (ioredis): a consumer group read with XREADGROUP, each entry XACKed only
 * after Midge committed its message. At start (and after every reconnect) the consumer first
 * reads its own pending entries again (what it had read but not acked when Midge stopped or
 * crashed), then XAUTOCLAIMs what other consumers left pending longer than `claimIdleMs`.
 * A requeued entry stays pending and is read again once its delay is over.
 */
import type { Redis } from 'ioredis';
import type { RedisStreamSourceConfig } from '../../config/index.js';
import { PauseGate } from './pause-gate.js';
import type { SourceBackend, SourceHandler, SourceRecord } from './types.js';

export interface RedisStreamSourceSettings {
  url: string;
  source: RedisStreamSourceConfig & { consumer: string };
}

type RawEntry = [Buffer, Buffer[] | null];

function text(b: unknown): string {
  return Buffer.isBuffer(b) ? b.toString('utf8') : String(b);
}

export class RedisStreamSource implements SourceBackend {
  readonly kind = 'redis-stream';
  private redis: Redis | undefined;
  private isStopped = false;
  /** Requeued entry id → when it may be taken again. */
  private readonly heldUntil = new Map<string, number>();
  private readonly gate = new PauseGate();

  constructor(private readonly settings: RedisStreamSourceSettings) {}

  async consume(handler: SourceHandler): Promise<void> {
    if (this.isStopped) return;
    const s = this.settings.source;
    const { Redis } = await import('ioredis');
    // Our reconnects (with the source's backoff), not ioredis's: a lost link ends this consume.
    const redis = new Redis(this.settings.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      connectTimeout: 10_000,
      // Longer than the blocking read; a hung server still times out.
      commandTimeout: s.blockMs + 10_000,
      retryStrategy: () => null,
    });
    redis.on('error', () => undefined);
    this.redis = redis;
    try {
      await redis.connect();
      await redis.call('XGROUP', 'CREATE', s.stream, s.group, '0', 'MKSTREAM').catch((error: Error) => {
        if (!/BUSYGROUP/.test(error.message)) throw error;
      });
      handler.connected();
      await this.gate.whenOpen();
      if (!this.isStopped) await this.recover(redis, handler);
      while (!this.isStopped) {
        if (this.gate.isPaused) {
          // Paused: nothing is read; what a blocking read brought meanwhile stays pending (read
          // again, first, on resume).
          await this.gate.whenOpen();
          if (!this.isStopped) await this.readOwnPending(redis, handler);
          continue;
        }
        const entries = await this.read(redis, '>', true);
        if (this.isStopped) break;
        if (entries.length > 0 && !this.gate.isPaused) await this.process(redis, handler, entries, false);
        if (this.heldUntil.size > 0 && [...this.heldUntil.values()].some((t) => t <= Date.now())) await this.readOwnPending(redis, handler);
      }
    } catch (error) {
      if (!this.isStopped) throw error;
    } finally {
      if (this.redis === redis) this.redis = undefined;
      redis.disconnect();
    }
  }

  /** Own pending entries first (read, not acked before a crash), then other consumers' stale ones. */
  private async recover(redis: Redis, handler: SourceHandler): Promise<void> {
    await this.readOwnPending(redis, handler);
    const s = this.settings.source;
    let cursor = '0-0';
    do {
      const reply = (await redis.callBuffer('XAUTOCLAIM', s.stream, s.group, s.consumer, String(s.claimIdleMs), cursor, 'COUNT', String(s.batchSize))) as [Buffer, RawEntry[], unknown?];
      cursor = text(reply[0]);
      const entries = reply[1] ?? [];
      if (entries.length > 0) await this.process(redis, handler, entries, true);
    } while (cursor !== '0-0' && !this.isStopped);
  }

  /** This consumer's pending list, in id order, skipping requeued entries not yet due. */
  private async readOwnPending(redis: Redis, handler: SourceHandler): Promise<void> {
    let after = '0';
    while (!this.isStopped) {
      const entries = await this.read(redis, after, false);
      if (entries.length === 0) return;
      after = text(entries[entries.length - 1]![0]);
      const now = Date.now();
      const due = entries.filter(([id]) => (this.heldUntil.get(text(id)) ?? 0) <= now);
      if (due.length > 0) await this.process(redis, handler, due, true);
    }
  }

  private async read(redis: Redis, from: string, block: boolean): Promise<RawEntry[]> {
    const s = this.settings.source;
    const args = ['GROUP', s.group, s.consumer, 'COUNT', String(s.batchSize), ...(block ? ['BLOCK', String(s.blockMs)] : []), 'STREAMS', s.stream, from];
    const reply = (await redis.callBuffer('XREADGROUP', ...args)) as unknown[] | null;
    if (!reply || reply.length === 0) return [];
    // RESP2: [[stream, entries]]; RESP3 (a map, flattened by ioredis): [stream, entries].
    const entries = Array.isArray(reply[0]) ? (reply[0] as unknown[])[1] : reply[1];
    return (entries as RawEntry[] | undefined) ?? [];
  }

  private async process(redis: Redis, handler: SourceHandler, entries: RawEntry[], isRecovered: boolean): Promise<void> {
    const s = this.settings.source;
    const ids: string[] = [];
    const records: SourceRecord[] = [];
    const gone: string[] = [];
    for (const [rawId, rawFields] of entries) {
      const id = text(rawId);
      // An entry deleted (XDEL, MAXLEN trim) while pending: nothing to deliver, just release it.
      if (!rawFields) {
        gone.push(id);
        continue;
      }
      const fields: Record<string, unknown> = { id, stream: s.stream };
      let payload: Buffer | undefined;
      for (let i = 0; i + 1 < rawFields.length; i += 2) {
        const name = text(rawFields[i]);
        fields[name] = text(rawFields[i + 1]);
        if (name === 'payload') payload = rawFields[i + 1];
      }
      ids.push(id);
      records.push({ id, fields, payload: payload ?? Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(fields).filter(([k]) => k !== 'stream')))), isRedelivered: isRecovered || this.heldUntil.has(id) });
    }
    if (gone.length > 0) await redis.call('XACK', s.stream, s.group, ...gone);
    if (records.length === 0) return;
    const outcomes = await handler.take(records);
    const acked = ids.filter((_, i) => outcomes[i] === 'ack');
    const requeued = ids.filter((_, i) => outcomes[i] === 'requeue');
    if (acked.length > 0) {
      await redis.call('XACK', s.stream, s.group, ...acked);
      if (s.deleteAfterAck) await redis.call('XDEL', s.stream, ...acked);
      for (const id of acked) this.heldUntil.delete(id);
      handler.acknowledged(acked.length);
    }
    if (requeued.length > 0) {
      const until = Date.now() + handler.requeueDelayMs;
      for (const id of requeued) this.heldUntil.set(id, until);
      handler.requeued(requeued.length);
    }
  }

  setPaused(isPaused: boolean): void {
    this.gate.set(isPaused);
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    this.gate.interrupt();
    // Breaks a blocking read; unacked entries stay pending for the next start.
    this.redis?.disconnect();
  }
}
