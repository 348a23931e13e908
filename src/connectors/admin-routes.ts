/**
 * `/api/v1/connectors` on the admin listener: each connector's state and counters (a source's
 * under `source`), and POST …/<name>/pause and …/<name>/resume of a sink (messages keep queueing
 * while paused).
 */
import type { HttpRoute } from '../observability/index.js';
import type { Connector } from './connector.js';
import type { Source } from './sources/source.js';

export function connectorRoutes(connectors: () => readonly Connector[], sources: () => readonly Source[] = () => []): HttpRoute[] {
  const find = (name: string | undefined): Connector | undefined => connectors().find((c) => c.name === name);
  const notFound = { status: 404, body: { error: 'no such connector' } };
  /** A sink's status with its source's beside it; a source-only connector as its source. */
  const statusOf = (name: string): object | undefined => {
    const sink = find(name)?.status;
    const source = sources().find((s) => s.connector === name)?.status;
    if (!sink) return source ? { kind: 'connector', name, type: source.type, state: source.state, source } : undefined;
    return source ? { ...sink, source } : sink;
  };
  const names = (): string[] => [...new Set([...connectors().map((c) => c.name), ...sources().map((s) => s.connector)])];
  return [
    { method: 'GET', path: /^\/api\/v1\/connectors$/, handle: () => ({ status: 200, body: names().map(statusOf) }) },
    {
      method: 'GET',
      path: /^\/api\/v1\/connectors\/(?<name>[^/]+)$/,
      handle: ({ name }) => {
        const status = name === undefined ? undefined : statusOf(name);
        return status ? { status: 200, body: status } : notFound;
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
