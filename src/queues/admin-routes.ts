/**
 * `/api/v1/queues` on the admin listener (behind its token, as every admin route): each queue's
 * depth, consumers and counters; and POST /api/v1/dlq/<name>/replay, which re-injects the dead
 * letters of a queue or connector into it (answers after the commit, with how many; in cluster
 * mode a queue's, from the engine, on any node).
 */
import type { HttpRoute } from '../observability/index.js';
import { ReplayBusyError } from './dead-letters.js';
import type { QueueManager } from './manager.js';

export function queueRoutes(manager: QueueManager): HttpRoute[] {
  return [
    { method: 'GET', path: /^\/api\/v1\/queues$/, handle: () => ({ status: 200, body: manager.statuses }) },
    {
      method: 'GET',
      path: /^\/api\/v1\/queues\/(?<name>[^/]+)$/,
      handle: ({ name }) => {
        const queue = manager.queue(name ?? '');
        return queue ? { status: 200, body: queue.status } : { status: 404, body: { error: 'no such queue' } };
      },
    },
    {
      method: 'GET',
      path: /^\/api\/v1\/dlq$/,
      handle: () => ({ status: 200, body: manager.deadLetterStatuses }),
    },
    {
      method: 'POST',
      path: /^\/api\/v1\/dlq\/(?<name>[^/]+)\/replay$/,
      handle: async ({ name }) => {
        const holder = manager.deadLettersOf(name ?? '');
        // Cluster mode: a queue's dead letters are in the engine, and any node replays them.
        const clusterQueue = holder ? undefined : manager.clusterQueue(name ?? '');
        if (!holder && !clusterQueue) return { status: 404, body: { error: 'no such queue or connector' } };
        try {
          if (clusterQueue) return { status: 200, body: { replayed: await clusterQueue.replayDeadLetters(), into: clusterQueue.sessionId } };
          const replayed = await holder!.replayAll();
          return { status: 200, body: { replayed, into: holder!.source.targetSessionId } };
        } catch (error) {
          if (error instanceof ReplayBusyError) return { status: 409, body: { error: error.message } };
          throw error;
        }
      },
    },
  ];
}
