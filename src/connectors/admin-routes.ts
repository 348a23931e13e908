/**
 * `/api/v1/connectors` on the admin listener: each connector's state and counters, and
 * POST …/<name>/pause and …/<name>/resume (messages keep queueing while paused).
 */
import type { HttpRoute } from '../observability/index.js';
import type { Connector } from './connector.js';

export function connectorRoutes(connectors: () => readonly Connector[]): HttpRoute[] {
  const find = (name: string | undefined): Connector | undefined => connectors().find((c) => c.name === name);
  const notFound = { status: 404, body: { error: 'no such connector' } };
  return [
    { method: 'GET', path: /^\/api\/v1\/connectors$/, handle: () => ({ status: 200, body: connectors().map((c) => c.status) }) },
    {
      method: 'GET',
      path: /^\/api\/v1\/connectors\/(?<name>[^/]+)$/,
      handle: ({ name }) => {
        const connector = find(name);
        return connector ? { status: 200, body: connector.status } : notFound;
      },
    },
    {
      method: 'POST',
      path: /^\/api\/v1\/connectors\/(?<name>[^/]+)\/(?<action>pause|resume)$/,
      handle: ({ name, action }) => {
        const connector = find(name);
        if (!connector) return notFound;
        if (action === 'pause') connector.pause();
        else connector.resume();
        return { status: 200, body: connector.status };
      },
    },
  ];
}
