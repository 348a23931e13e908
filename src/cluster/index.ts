/**
 * Cluster mode: several Midge nodes as one broker on NATS JetStream (cluster-design.md). The
 * engine client is confined to this module and loaded only when `cluster` is configured.
 */
import type { Broker, ClusterHooks } from '../broker/index.js';
import type { ClusterConfig } from '../config/index.js';
import type { Logger } from '../observability/index.js';
import type { Store } from '../store/index.js';
import { ClusterService } from './cluster.js';
import { Engine } from './engine.js';
import { ClusterStore } from './session-store.js';
import { withUserSync } from './user-sync.js';
import { EngineWorkQueues } from './work-queues.js';

export { EngineError } from './engine.js';

export type { EngineQueue, EngineQueueMessage, EngineQueueOptions } from './work-queues.js';

/**
 * The store, the broker hook and the durable queues' engine of one cluster node, sharing one
 * engine connection (connected when the store opens).
 */
export function createClusterParts(config: ClusterConfig, logger: Logger): { store: Store; cluster: (broker: Broker) => ClusterHooks; queues: EngineWorkQueues } {
  const engine = new Engine(config, logger);
  const store = new ClusterStore(engine);
  // With a user store, its users, roles and groups are shared through the engine too (user-sync.ts).
  return {
    store,
    queues: new EngineWorkQueues(engine),
    cluster: (broker) => withUserSync(new ClusterService(engine, store, broker), engine, broker.userStore, logger),
  };
}
