export { DurableQueue, type QueueStatus } from './queue.js';
export { DeadLetterHolder, ReplayBusyError, type DeadLetterSource, type DeadLetterStatus } from './dead-letters.js';
export { QueueManager } from './manager.js';
export { brokerQueueHost, type QueueHost } from './host.js';
export { queueRoutes } from './admin-routes.js';
export { registerQueueMetrics } from './metrics.js';
export { ClusterQueue, type ClusterQueueHost, type QueueEngine } from './cluster-queue.js';
