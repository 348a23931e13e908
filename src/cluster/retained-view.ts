/** midge_retained → the router's retained index, on every node (a KV watch). */
import type { Broker } from '../broker/index.js';
import type { Logger } from '../observability/index.js';
import { decodeMessage, type Message } from '../store/index.js';
import { BUCKETS, type Engine } from './engine.js';

export class RetainedView {
  private isLoaded = false;
  private stopWatch: (() => void) | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly broker: Broker,
    private readonly logger: Logger,
  ) {}

  get loaded(): boolean {
    return this.isLoaded;
  }

  /** Resolves once the watch delivered the bucket's initial values. */
  async start(): Promise<void> {
    const kv = this.engine.bucket(BUCKETS.retained);
    let markLoaded!: () => void;
    const loaded = new Promise<void>((resolve) => (markLoaded = resolve));
    const byKey = new Map<string, string>();
    const iterator = await kv.watch({
      key: '>',
      initializedFn: () => {
        this.isLoaded = true;
        markLoaded();
      },
    });
    this.stopWatch = () => iterator.stop();
    void (async () => {
      for await (const entry of iterator) {
        if (entry.operation === 'PUT') {
          let message: Message;
          try {
            message = decodeMessage(entry.key, Buffer.from(entry.value.buffer, entry.value.byteOffset, entry.value.byteLength));
          } catch (error) {
            this.logger.warn({ err: (error as Error).message }, 'cluster: unreadable retained message skipped');
            continue;
          }
          byKey.set(entry.key, message.topic);
          this.broker.router.restoreRetained(message);
        } else {
          const topic = byKey.get(entry.key);
          byKey.delete(entry.key);
          if (topic !== undefined) this.broker.router.forgetRetained(topic);
        }
      }
    })();
    await loaded;
  }

  stop(): void {
    this.stopWatch?.();
  }
}
