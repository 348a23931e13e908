/**
 * The engine: one NATS connection with JetStream, the engine objects (created idempotently by
 * whichever node starts first), and Midge's own publish pipeline. The `nats` client is imported
 * here and nowhere else in Midge; it is loaded only in cluster mode.
 */
import { createHash } from 'node:crypto';
import type { ClusterConfig } from '../config/index.js';
import type { Logger } from '../observability/index.js';
import { AckPipeline, EngineError } from './ack-pipeline.js';
import { Lease } from './lease.js';

type Nats = typeof import('nats');
export type NatsConnection = import('nats').NatsConnection;
export type JsMsg = import('nats').JsMsg;
export type KV = import('nats').KV;
export type KvEntry = import('nats').KvEntry;
export type Msg = import('nats').Msg;
export type MsgHdrs = import('nats').MsgHdrs;

export const BUCKETS = {
  nodes: 'midge_nodes',
  owner: 'midge_owner',
  sessions: 'midge_sess',
  routes: 'midge_routes',
  retained: 'midge_retained',
} as const;
export const INBOX_STREAM = 'MIDGE_IN';
export const inboxSubject = (node: string): string => `midge.in.${node}`;
export const inboxConsumer = (node: string): string => `in_${node}`;
export const qos0Subject = (node: string): string => `midge.n.${node}.q0`;
export const releaseSubject = (node: string): string => `midge.n.${node}.release`;
/** Core NATS: a live node answers (liveness that does not depend on JetStream). */
export const pingSubject = (node: string): string => `midge.n.${node}.ping`;
/** midge_sess key saying who adopted a node, and when (its `at` after the node's boot: fenced). */
export const adoptedKey = (node: string): string => `adopted.${node}`;
/** How long a node's heartbeat lives in midge_nodes: a node silent for this long is dead. */
export const NODE_LEASE_MS = 6000;

/** Hashes of recent client ids, filters and topics: every session write names its client's. */
const hashes = new Map<string, string>();
const MAX_CACHED_HASHES = 50_000;

/** KV keys allow `[-/=.\w]`: client ids, filters and topics go in as a hash. */
export function keyHash(text: string): string {
  let hash = hashes.get(text);
  if (hash === undefined) {
    hash = createHash('sha256').update(text).digest('base64url');
    if (hashes.size >= MAX_CACHED_HASHES) hashes.clear();
    hashes.set(text, hash);
  }
  return hash;
}

export { EngineError } from './ack-pipeline.js';

/** One write to a KV bucket, as a plain publish (put or delete). */
export interface KvWrite {
  bucket: string;
  key: string;
  /** undefined: delete. */
  value: Uint8Array | undefined;
}

export class Engine {
  nats!: Nats;
  nc!: NatsConnection;
  js!: import('nats').JetStreamClient;
  jsm!: import('nats').JetStreamManager;
  pipeline!: AckPipeline;
  readonly kv = new Map<string, KV>();
  /** Acknowledgements of this node's writes wait while it is not valid (lease.ts). */
  readonly lease = new Lease();
  private isClosing = false;
  private connected = false;

  constructor(
    readonly config: ClusterConfig,
    private readonly logger: Logger,
  ) {}

  get isConnected(): boolean {
    return this.connected && !this.isClosing;
  }

  get closing(): boolean {
    return this.isClosing;
  }

  async connect(): Promise<void> {
    this.nats = await import('nats');
    this.nc = await this.nats.connect({
      servers: this.config.servers,
      name: `midge-${this.config.nodeId}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
      // Per attempt: the default 20 s kept a node away that long after the servers came back,
      // long enough for another node to adopt it.
      timeout: 5000,
      pingInterval: 2000,
      maxPingOut: 2,
    });
    this.connected = true;
    void (async () => {
      for await (const status of this.nc.status()) {
        if (status.type === 'disconnect') {
          this.connected = false;
          this.logger.warn({ server: status.data }, 'cluster: engine connection lost; acknowledgements are withheld until it is back');
        } else if (status.type === 'reconnect') {
          this.connected = true;
          this.logger.info({ server: status.data }, 'cluster: engine connection back');
        }
      }
    })();
    this.js = this.nc.jetstream({ timeout: this.config.ackTimeoutMs });
    this.jsm = await this.retry('JetStream', () => this.nc.jetstreamManager({ timeout: this.config.ackTimeoutMs }));
    this.pipeline = new AckPipeline(this.nc, this.config.nodeId, this.config.ackTimeoutMs);
    await this.ensureObjects();
  }

  /** Buckets and the inbox stream: created if absent, left as they are if present. */
  private async ensureObjects(): Promise<void> {
    const { StorageType, RetentionPolicy, nanos } = this.nats;
    const replicas = this.config.replicas;
    for (const [name, bucket] of Object.entries(BUCKETS)) {
      const kv = await this.retry(`bucket ${bucket}`, () =>
        this.js.views.kv(bucket, {
          replicas,
          history: 1,
          storage: StorageType.File,
          ...(name === 'nodes' ? { ttl: NODE_LEASE_MS } : {}),
        }),
      );
      this.kv.set(bucket, kv);
    }
    await this.retry(`stream ${INBOX_STREAM}`, async () => {
      try {
        await this.jsm.streams.info(INBOX_STREAM);
      } catch {
        await this.jsm.streams.add({
          name: INBOX_STREAM,
          subjects: ['midge.in.*'],
          retention: RetentionPolicy.Workqueue,
          storage: StorageType.File,
          num_replicas: replicas,
          // Resends of a batch after a timeout carry the same Nats-Msg-Id and are dropped.
          duplicate_window: nanos(120_000),
        });
      }
    });
  }

  /** Another node may be creating the same object at the same moment: try again briefly. */
  async retry<T>(what: string, fn: () => Promise<T>, attempts = 20): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (attempt >= attempts || this.isClosing) throw error;
        this.logger.debug({ err: (error as Error).message, what, attempt }, 'cluster: engine call failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * attempt)));
      }
    }
  }

  bucket(name: string): KV {
    const kv = this.kv.get(name);
    if (!kv) throw new Error(`bucket ${name} not opened`);
    return kv;
  }

  headers(): MsgHdrs {
    return this.nats.headers();
  }

  /** The KV delete marker header, built once (headers are encoded at each publish, not changed). */
  private deleteHeaders: MsgHdrs | undefined;

  /** Puts and deletes pipelined; resolves when every one is stored, resending failed ones. */
  async writeKv(writes: readonly KvWrite[]): Promise<void> {
    if (!this.deleteHeaders) {
      this.deleteHeaders = this.headers();
      this.deleteHeaders.set('KV-Operation', 'DEL');
    }
    const deleteHeaders = this.deleteHeaders;
    const empty = new Uint8Array(0);
    let todo = writes;
    for (let attempt = 1; todo.length > 0; attempt++) {
      const errors = await this.pipeline.publishAll(
        todo.map((w) => ({ subject: `$KV.${w.bucket}.${w.key}`, data: w.value ?? empty, headers: w.value === undefined ? deleteHeaders : undefined })),
      );
      const failed = todo.filter((_, i) => errors[i] !== undefined);
      if (failed.length === 0) return this.leaseHeld();
      if (this.isClosing) throw new EngineError('closed', 'engine closing with writes unacknowledged');
      if (attempt === 1 || attempt % 10 === 0) {
        const reason = errors.find((e) => e !== undefined)!;
        this.logger.warn({ err: reason.message, writes: failed.length, attempt }, 'cluster: engine writes not acknowledged; resending');
      }
      todo = failed;
      await new Promise((r) => setTimeout(r, Math.min(1000, 50 * attempt)));
    }
  }

  /**
   * Undefined while this node's lease is valid; else resolves when it is renewed (lease.ts). Every
   * write the committer waits for ends with it, so an acknowledgement goes out only under a valid lease.
   */
  leaseHeld(): Promise<void> | undefined {
    return this.lease.whenValid();
  }

  /** Deletes every key under `prefix.` in one call (a session ends). */
  async purgePrefix(bucket: string, prefix: string): Promise<void> {
    await this.retry(
      `purge ${bucket} ${prefix}`,
      async () => {
        await this.jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${prefix}.>` });
      },
      Number.POSITIVE_INFINITY,
    );
  }

  /** The latest value of every key matching `filter` (a KV key pattern, e.g. `abc.>`). */
  async readPrefix(bucket: string, filter: string): Promise<Map<string, Uint8Array>> {
    const kv = this.bucket(bucket);
    const values = new Map<string, Uint8Array>();
    let isInitialized = false;
    let iterator: Awaited<ReturnType<KV['watch']>> | undefined;
    iterator = await kv.watch({
      key: filter,
      // Called in order after the initial values, or at once (before watch returns) when none.
      initializedFn: () => {
        isInitialized = true;
        iterator?.stop();
      },
    });
    if (isInitialized) iterator.stop();
    for await (const entry of iterator) {
      if (entry.operation === 'PUT') values.set(entry.key, entry.value);
      else values.delete(entry.key);
    }
    return values;
  }

  async close(): Promise<void> {
    this.isClosing = true;
    this.pipeline?.close();
    if (this.nc && !this.nc.isClosed()) {
      await this.nc.drain().catch(() => this.nc.close());
    }
  }
}
