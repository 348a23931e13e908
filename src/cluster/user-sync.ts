/**
 * The built-in user store shared by every node: one JetStream KV bucket (`midge_users`), one key
 * per user, role and group. A change made through one node's admin API is written there with the
 * revision it was based on (a compare-and-set, so two nodes changing one user cannot lose a
 * change), and every node's watch applies it — a disabled user's clients are disconnected on
 * whichever node they are connected to.
 *
 * The user store itself lives in auth (which cluster may not import): it is reached through the
 * small structural interfaces below, which `UserStore` satisfies.
 */
import type { ClusterHooks } from '../broker/index.js';
import type { Logger } from '../observability/index.js';
import { keyHash, type Engine, type KV } from './engine.js';

export const USERS_BUCKET = 'midge_users';

/** The engine's compare-and-set refusal: "wrong last sequence". */
const WRONG_LAST_SEQUENCE = 10071;

type Entry = { value: string | undefined; revision: number };

/** One store's shared copy, as the user store reads and writes it (auth's UserStoreReplica). */
export interface UserReplica {
  read(): Promise<Map<string, Entry>>;
  write(key: string, value: string | undefined, basedOn: number): Promise<number | 'conflict'>;
  watch(onEntry: (key: string, value: string | undefined, revision: number) => void): () => void;
}

/** What user sync needs of the user store. */
export interface SharedUserStore {
  share(replica: UserReplica): Promise<void>;
  stopSharing(): void;
}

/**
 * The bucket's entries: KV keys allow few characters, so the key is a hash of the store's own key
 * (`user:<name>`…), which the value carries; a deleted entry stays as a tombstone (value null), so
 * its revision keeps guarding a later re-creation.
 */
export class KvUserReplica implements UserReplica {
  constructor(
    private readonly kv: KV,
    private readonly logger: Logger,
  ) {}

  static async open(engine: Engine, logger: Logger): Promise<KvUserReplica> {
    const { StorageType } = engine.nats;
    const kv = await engine.retry(`bucket ${USERS_BUCKET}`, () => engine.js.views.kv(USERS_BUCKET, { replicas: engine.config.replicas, history: 1, storage: StorageType.File }));
    return new KvUserReplica(kv, logger);
  }

  private decode(data: Uint8Array): { key: string; value: string | undefined } | undefined {
    try {
      const parsed = JSON.parse(new TextDecoder().decode(data)) as { key?: unknown; value?: unknown };
      if (typeof parsed.key !== 'string') return undefined;
      return { key: parsed.key, value: typeof parsed.value === 'string' ? parsed.value : undefined };
    } catch {
      return undefined;
    }
  }

  async read(): Promise<Map<string, Entry>> {
    const entries = new Map<string, Entry>();
    let isInitialized = false;
    let iterator: Awaited<ReturnType<KV['watch']>> | undefined;
    iterator = await this.kv.watch({
      key: 'e.>',
      // Called after the last initial value, or at once (before watch returns) when there is none.
      initializedFn: () => {
        isInitialized = true;
        iterator?.stop();
      },
    });
    if (isInitialized) iterator.stop();
    for await (const entry of iterator) {
      if (entry.operation !== 'PUT') continue;
      const decoded = this.decode(entry.value);
      if (decoded) entries.set(decoded.key, { value: decoded.value, revision: entry.revision });
    }
    return entries;
  }

  async write(key: string, value: string | undefined, basedOn: number): Promise<number | 'conflict'> {
    const data = new TextEncoder().encode(JSON.stringify({ key, value: value ?? null }));
    try {
      return await this.kv.put(`e.${keyHash(key)}`, data, { previousSeq: basedOn });
    } catch (error) {
      if ((error as { api_error?: { err_code?: number } }).api_error?.err_code === WRONG_LAST_SEQUENCE) return 'conflict';
      throw error;
    }
  }

  watch(onEntry: (key: string, value: string | undefined, revision: number) => void): () => void {
    let isStopped = false;
    let stop: (() => void) | undefined;
    void (async () => {
      // Last values first (the store skips revisions it has seen), so nothing between its read and
      // this watch is missed; then every write as it comes. The client's ordered consumer resumes
      // after an engine outage by itself.
      const iterator = await this.kv.watch({ key: 'e.>' });
      stop = () => iterator.stop();
      if (isStopped) return iterator.stop();
      for await (const entry of iterator) {
        if (entry.operation !== 'PUT') continue;
        const decoded = this.decode(entry.value);
        if (decoded) onEntry(decoded.key, decoded.value, entry.revision);
      }
    })().catch((error: unknown) => {
      if (!isStopped) this.logger.error({ err: error }, 'cluster: user store watch ended; changes made on other nodes no longer reach this one');
    });
    return () => {
      isStopped = true;
      stop?.();
    };
  }
}

/** Wraps the cluster service so the user store is shared once the engine is connected, before the listeners open. */
export function withUserSync(service: ClusterHooks, engine: Engine, users: SharedUserStore | undefined, logger: Logger): ClusterHooks {
  if (!users) return service;
  return {
    get nodeId() {
      return service.nodeId;
    },
    get isReady() {
      return service.isReady;
    },
    async start() {
      await service.start();
      const replica = await KvUserReplica.open(engine, logger);
      // Retried as the service's own start-up calls are: the engine may be busy or electing.
      await engine.retry('user store', () => users.share(replica), 30);
      logger.info({ bucket: USERS_BUCKET }, 'cluster: user store shared');
    },
    async stop() {
      users.stopSharing();
      await service.stop();
    },
    claim: (clientId, isCleanStart) => service.claim(clientId, isCleanStart),
    status: () => service.status(),
  };
}
