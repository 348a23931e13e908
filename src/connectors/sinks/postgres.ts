/**
 * PostgreSQL sink (pg, pure JS): the configured statement with every `${…}` bound as $1.., never
 * spliced. An `INSERT … VALUES (…) [ON CONFLICT …]` is batched as one multi-row INSERT; any other
 * statement runs once per message inside one transaction. COMMIT is the confirmation; with
 * `ON CONFLICT (msg_id) DO NOTHING` on the stable `${msgid}` a redelivery leaves no duplicate row.
 */
import type { Client } from 'pg';
import type { PostgresSinkConfig } from '../../config/index.js';
import { SinkError } from '../errors.js';
import { Template } from '../template.js';
import type { ConnectorMessage, Sink } from '../types.js';

export interface PostgresSinkSettings {
  url: string;
  sink: PostgresSinkConfig;
}

/** SQLSTATE classes: 08 connection, 53 resources, 57P operator intervention, 40 rollbacks are transient; 28 auth, 42 syntax/undefined/privilege, 3D/3F missing database/schema are configuration; 22 data, 23 constraints are data. */
export function classifyPostgresError(error: unknown): SinkError {
  const e = error as { code?: string; message?: string };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = (e.message ?? String(error)).slice(0, 160);
  const reason = `postgres${code ? ` ${code}` : ''}: ${message}`;
  if (/^(22|23)/.test(code)) return new SinkError('data', reason, { cause: error });
  if (/^(28|42|3D|3F|0A)/.test(code)) return new SinkError('configuration', reason, { cause: error });
  return new SinkError('transient', reason, { cause: error });
}

interface MultiRow {
  prefix: string;
  row: Template;
  suffix: string;
}

/** Splits `INSERT … VALUES (row) [ON CONFLICT …|RETURNING …]` when only the row has placeholders. */
function asMultiRow(sql: string): MultiRow | undefined {
  const match = /\bVALUES\s*\(/i.exec(sql);
  if (!match || !/^\s*INSERT\b/i.test(sql)) return undefined;
  const open = match.index + match[0].length - 1;
  let depth = 0;
  let close = -1;
  for (let i = open; i < sql.length; i++) {
    if (sql[i] === '(') depth++;
    else if (sql[i] === ')' && --depth === 0) {
      close = i;
      break;
    }
  }
  if (close < 0) return undefined;
  const prefix = sql.slice(0, open);
  const suffix = sql.slice(close + 1);
  if (prefix.includes('${') || suffix.includes('${') || /^\s*,/.test(suffix) || suffix.includes(';')) return undefined;
  return { prefix, row: new Template(sql.slice(open, close + 1)), suffix };
}

export class PostgresSink implements Sink {
  readonly kind = 'postgres';
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private readonly statement: Template;
  private readonly multiRow: MultiRow | undefined;

  constructor(private readonly settings: PostgresSinkSettings) {
    this.statement = new Template(settings.sink.sql);
    this.multiRow = asMultiRow(settings.sink.sql);
  }

  async open(): Promise<void> {
    await this.ensureClient();
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await Promise.race([client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    destroySocket(client);
  }

  private ensureClient(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<Client> {
    const { default: pg } = await import('pg');
    const t = this.settings.sink.timeoutMs;
    const client = new pg.Client({ connectionString: this.settings.url, connectionTimeoutMillis: t, query_timeout: t, keepAlive: true });
    client.on('error', () => {
      if (this.client === client) this.client = undefined;
    });
    client.on('end', () => {
      if (this.client === client) this.client = undefined;
    });
    try {
      await client.connect();
    } catch (error) {
      destroySocket(client);
      throw classifyPostgresError(error);
    }
    this.client = client;
    return client;
  }

  async send(batch: readonly ConnectorMessage[]): Promise<void> {
    const client = await this.ensureClient();
    try {
      if (this.multiRow) {
        const { prefix, row, suffix } = this.multiRow;
        const rows: string[] = [];
        const values: unknown[] = [];
        for (const m of batch) {
          const bound = row.bind(m, values.length + 1);
          rows.push(bound.text);
          values.push(...bound.values);
        }
        // One statement is its own transaction: committed when it returns.
        await client.query(`${prefix}${rows.join(', ')}${suffix}`, values);
        return;
      }
      await client.query('BEGIN');
      for (const m of batch) {
        const bound = this.statement.bind(m);
        await client.query(bound.text, bound.values);
      }
      await client.query('COMMIT');
    } catch (error) {
      const classified = classifyPostgresError(error);
      if (classified.errorClass === 'transient') {
        // Lost or hung: the connection's state is unknown; a new one next time.
        if (this.client === client) this.client = undefined;
        destroySocket(client);
      } else if (!this.multiRow) {
        await client.query('ROLLBACK').catch(() => undefined);
      }
      throw classified;
    }
  }
}

function destroySocket(client: Client | undefined): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } } | undefined)?.connection?.stream?.destroy();
}
