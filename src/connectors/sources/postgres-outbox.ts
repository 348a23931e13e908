/**
 * PostgreSQL outbox source (pg): the backend inserts command rows into a table (and, optionally,
 * a trigger NOTIFYs a channel); Midge takes them in batches with `SELECT … FOR UPDATE SKIP
 * LOCKED` (several Midge nodes or workers never take the same row), publishes them, and — after
 * Midge's own commit — deletes them or marks them done in that same transaction. A crash between
 * the two rolls the transaction back: the rows are still there for the next batch. LISTEN wakes
 * the source at once; `pollMs` is the fallback.
 */
import type { Client } from 'pg';
import type { PostgresOutboxSourceConfig } from '../../config/index.js';
import { PauseGate } from './pause-gate.js';
import type { SourceBackend, SourceHandler, SourceRecord } from './types.js';

export interface PostgresOutboxSourceSettings {
  url: string;
  source: PostgresOutboxSourceConfig;
}

/** A plain name (the schema checked it) as a quoted identifier: never spliced from a record. */
function quoted(name: string): string {
  return name
    .split('.')
    .map((part) => `"${part.replaceAll('"', '""')}"`)
    .join('.');
}

function payloadOf(row: Record<string, unknown>): Buffer {
  const value = row.payload;
  if (Buffer.isBuffer(value)) return value; // bytea
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value !== undefined && value !== null) return Buffer.from(JSON.stringify(value)); // json, jsonb, numbers
  return Buffer.from(JSON.stringify(row));
}

export class PostgresOutboxSource implements SourceBackend {
  readonly kind = 'postgres';
  private client: Client | undefined;
  private isStopped = false;
  private wake: (() => void) | undefined;
  /** A NOTIFY came while a batch ran: the next idle wait is skipped. */
  private isNotified = false;
  /** Requeued row id → when it may be taken again. */
  private readonly heldUntil = new Map<string, number>();
  private readonly gate = new PauseGate();
  private readonly select: string;
  private readonly finish: string;

  constructor(private readonly settings: PostgresOutboxSourceSettings) {
    const s = settings.source;
    const table = quoted(s.table);
    const id = quoted(s.idColumn);
    const notDone = s.onDone === 'mark' ? `${quoted(s.doneColumn)} IS NULL` : 'TRUE';
    this.select = `SELECT * FROM ${table} WHERE ${notDone} AND NOT (${id} = ANY($2)) ORDER BY ${id} LIMIT $1 FOR UPDATE SKIP LOCKED`;
    this.finish = s.onDone === 'mark' ? `UPDATE ${table} SET ${quoted(s.doneColumn)} = now() WHERE ${id} = ANY($1)` : `DELETE FROM ${table} WHERE ${id} = ANY($1)`;
  }

  async consume(handler: SourceHandler): Promise<void> {
    if (this.isStopped) return;
    const s = this.settings.source;
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: this.settings.url, connectionTimeoutMillis: 10_000, query_timeout: 30_000, keepAlive: true });
    let lost: ((error: Error) => void) | undefined;
    const linkLost = new Promise<never>((_, reject) => (lost = reject));
    linkLost.catch(() => undefined);
    client.on('error', (error) => lost!(error));
    client.on('end', () => lost!(new Error('postgres connection ended')));
    client.on('notification', () => {
      this.isNotified = true;
      this.wake?.();
    });
    this.client = client;
    try {
      await client.connect();
      if (s.notify !== undefined) await client.query(`LISTEN ${quoted(s.notify)}`);
      handler.connected();
      while (!this.isStopped) {
        if (this.gate.isPaused) {
          // Paused: no new batch (no transaction left open meanwhile); the link stays up.
          await Promise.race([this.gate.whenOpen(), linkLost]);
          continue;
        }
        const taken = await this.batch(client, handler);
        if (taken < s.batchSize && !this.isStopped) await Promise.race([this.idle(), linkLost]);
      }
    } catch (error) {
      if (!this.isStopped) throw error;
    } finally {
      if (this.client === client) this.client = undefined;
      await Promise.race([client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
  }

  /** One transaction: lock a batch, publish it, delete/mark what Midge committed, COMMIT. */
  private async batch(client: Client, handler: SourceHandler): Promise<number> {
    const s = this.settings.source;
    const now = Date.now();
    for (const [id, until] of this.heldUntil) if (until <= now) this.heldUntil.delete(id);
    this.isNotified = false;
    await client.query('BEGIN');
    try {
      if (this.gate.isPaused) {
        // Paused while BEGIN was on its way: take nothing.
        await client.query('COMMIT');
        return 0;
      }
      const { rows } = await client.query<Record<string, unknown>>(this.select, [s.batchSize, [...this.heldUntil.keys()]]);
      if (rows.length === 0) {
        await client.query('COMMIT');
        return 0;
      }
      const records: SourceRecord[] = rows.map((row) => ({ id: String(row[s.idColumn]), fields: row, payload: payloadOf(row), isRedelivered: false }));
      const outcomes = await handler.take(records);
      const acked = records.filter((_, i) => outcomes[i] === 'ack').map((r) => r.id);
      const requeued = records.filter((_, i) => outcomes[i] === 'requeue').map((r) => r.id);
      if (acked.length > 0) await client.query(this.finish, [acked]);
      await client.query('COMMIT');
      handler.acknowledged(acked.length);
      if (requeued.length > 0) {
        const until = Date.now() + handler.requeueDelayMs;
        for (const id of requeued) this.heldUntil.set(id, until);
        handler.requeued(requeued.length);
      }
      return rows.length - requeued.length;
    } catch (error) {
      // Stopping or a lost link: nothing was deleted; the rows are taken again later.
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** Until a NOTIFY, the poll interval, the next requeued row falling due, or stop. */
  private idle(): Promise<void> {
    const s = this.settings.source;
    let ms = s.pollMs;
    for (const until of this.heldUntil.values()) ms = Math.min(ms, Math.max(0, until - Date.now()));
    if (this.isNotified) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  setPaused(isPaused: boolean): void {
    this.gate.set(isPaused);
    if (isPaused) this.wake?.();
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    this.gate.interrupt();
    this.wake?.();
    // A batch waiting for Midge's commit sees the stop in take() and rolls back.
  }
}
