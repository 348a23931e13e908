/**
 * The admin JSON API and probes, as HTTP routes over the broker's public state. Read-only apart
 * from two DELETEs (disconnect a client, delete a retained message).
 */
import type { HttpRoute } from '../observability/index.js';
import { ReasonCode } from '../protocol/index.js';
import type { Session } from '../session/index.js';
import { isValidTopicFilter, isValidTopicName, topicMatchesFilter } from '../topics/index.js';
import { describeStoreHealth } from '../store/index.js';
import type { BrokerAdmin } from './admin.js';
import { dashboardRoutes } from './admin-dashboard-api.js';
import { userAdminRoutes } from './admin-users.js';

function describeClient(broker: BrokerAdmin, session: Session): Record<string, unknown> {
  const connection = broker.client(session.clientId);
  return {
    id: session.clientId,
    isOnline: session.isOnline,
    address: connection?.remoteAddress ?? null,
    protocol: session.protocolVersion,
    username: session.username ?? null,
    connectedSince: connection?.connectedAt !== undefined ? new Date(connection.connectedAt).toISOString() : null,
    disconnectedAt: session.disconnectedAt !== undefined ? new Date(session.disconnectedAt).toISOString() : null,
    sessionExpiryInterval: session.expiryInterval,
    subscriptions: session.subscriptions.size,
    queued: session.queuedCount,
    queuedBytes: session.queuedBytes,
    inflight: session.inflightCount,
    /** Deliveries dropped for this session, by reason (queue-full: refused or evicted at its bound). */
    dropped: { ...session.dropped },
    overflowPolicy: session.overflowPolicy,
  };
}

export function adminRoutes(broker: BrokerAdmin): HttpRoute[] {
  return [
    { method: 'GET', path: /^\/health$/, handle: () => ({ status: 200, body: { status: 'ok' } }) },
    {
      method: 'GET',
      path: /^\/ready$/,
      handle: () => {
        if (!broker.isRunning) return { status: 503, body: { status: 'not ready' } };
        // Writes failing (a full disk): acknowledgements are withheld, so do not send more load.
        if (!broker.storeHealth.isWritable) return { status: 503, body: { status: 'not ready', reason: `store ${describeStoreHealth(broker.storeHealth)}` } };
        // A cluster node serves once the engine is connected and its route and retained views are loaded.
        if (broker.cluster && !broker.cluster.isReady) return { status: 503, body: { status: 'not ready', reason: 'cluster engine or views not ready' } };
        return { status: 200, body: { status: 'ready' } };
      },
    },
    {
      method: 'GET',
      path: /^\/api\/v1\/cluster$/,
      handle: async () => (broker.cluster ? { status: 200, body: await broker.cluster.status() } : { status: 404, body: { error: 'not a cluster node' } }),
    },
    {
      method: 'GET',
      path: /^\/metrics$/,
      handle: async () => ({ status: 200, body: await broker.metrics.metrics(), contentType: broker.metrics.contentType }),
    },
    {
      method: 'GET',
      path: /^\/api\/v1\/clients$/,
      handle: () => ({ status: 200, body: [...broker.sessions()].map((s) => describeClient(broker, s)) }),
    },
    {
      method: 'GET',
      path: /^\/api\/v1\/clients\/(?<id>[^/]+)$/,
      handle: ({ id }) => {
        const session = broker.session(id!);
        if (!session) return { status: 404, body: { error: 'no such client' } };
        return {
          status: 200,
          body: { ...describeClient(broker, session), subscriptionList: [...session.subscriptions.values()] },
        };
      },
    },
    {
      method: 'DELETE',
      path: /^\/api\/v1\/clients\/(?<id>[^/]+)$/,
      handle: ({ id }, query) => {
        if (!broker.session(id!)) return { status: 404, body: { error: 'no such client' } };
        const shouldDiscard = query.get('discardSession') === 'true';
        const wasOnline = broker.disconnectClient(id!, ReasonCode.AdministrativeAction, 'disconnected by an administrator');
        if (shouldDiscard) broker.discardSession(id!);
        broker.logger.info({ clientId: id, wasOnline, discardSession: shouldDiscard }, 'client disconnected by the admin API');
        return { status: 200, body: { disconnected: wasOnline, sessionDiscarded: shouldDiscard } };
      },
    },
    {
      method: 'GET',
      path: /^\/api\/v1\/subscriptions$/,
      handle: (_, query) => {
        const filter = query.get('filter');
        const list: Array<Record<string, unknown>> = [];
        for (const session of broker.sessions()) {
          for (const subscription of session.subscriptions.values()) {
            // ?filter= takes a filter (exact match) or a topic name (subscriptions it reaches).
            const isWanted =
              filter === null ||
              subscription.filter === filter ||
              (isValidTopicName(filter) && topicMatchesFilter(filter, subscription.filter));
            if (isWanted) list.push({ clientId: session.clientId, ...subscription });
          }
        }
        return { status: 200, body: list };
      },
    },
    {
      method: 'GET',
      path: /^\/api\/v1\/retained$/,
      handle: (_, query) => {
        const topic = query.get('topic') ?? '#';
        if (!isValidTopicFilter(topic, false)) return { status: 400, body: { error: 'topic must be a topic name or filter' } };
        const found = broker.matchRetained(topic).map(({ topic: t, value }) => ({
          topic: t,
          qos: value.qos,
          bytes: value.payload.length,
          payloadBase64: value.payload.toString('base64'),
        }));
        return { status: 200, body: found };
      },
    },
    {
      method: 'DELETE',
      path: /^\/api\/v1\/retained$/,
      handle: (_, query) => {
        const topic = query.get('topic');
        if (topic === null || !isValidTopicName(topic)) return { status: 400, body: { error: 'topic must be a topic name' } };
        const existed = broker.deleteRetained(topic);
        return { status: existed ? 200 : 404, body: { deleted: existed } };
      },
    },
    // Bridges only: connectors and queues are services too, but say their `kind`.
    { method: 'GET', path: /^\/api\/v1\/bridges$/, handle: () => ({ status: 200, body: broker.services.map((s) => s.status).filter((s) => (s as { kind?: string }).kind === undefined) }) },
    { method: 'GET', path: /^\/api\/v1\/stats$/, handle: () => ({ status: 200, body: broker.statsSnapshot() }) },
    ...dashboardRoutes(broker),
    ...userAdminRoutes(broker),
  ];
}
