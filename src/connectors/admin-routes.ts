/**
 * `/api/v1/connectors` on the admin listener: each connector's state and counters (a source's
 * under `source`), and POST …/<name>/pause and …/<name>/resume of its sink and its source (or only
 * one with `?part=sink` / `?part=source`). A paused sink keeps queueing in its session; a paused
 * source takes no new records, which wait with the backend. Both show state `paused` with
 * `pausedBy: "operator"` until resumed.
 */
import type { HttpRoute } from '../observability/index.js';
import type { Connector } from './connector.js';
import type { Source } from './sources/source.js';

const PARTS = ['sink', 'source'] as const;

export function connectorRoutes(connectors: () => readonly Connector[], sources: () => readonly Source[] = () => []): HttpRoute[] {
  const findSink = (name: string | undefined): Connector | undefined => connectors().find((c) => c.name === name);
  const findSource = (name: string | undefined): Source | undefined => sources().find((s) => s.connector === name);
  const notFound = { status: 404, body: { error: 'no such connector' } };
  /** A sink's status with its source's beside it; a source-only connector as its source. */
  const statusOf = (name: string): object | undefined => {
    const sink = findSink(name)?.status;
    const source = findSource(name)?.status;
    if (!sink) return source ? { kind: 'connector', name, type: source.type, state: source.state, pausedBy: source.pausedBy, source } : undefined;
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
      handle: ({ name, action }, query) => {
        const part = query.get('part');
        if (part !== null && !(PARTS as readonly string[]).includes(part)) return { status: 400, body: { error: 'part must be sink or source' } };
        const status = statusOf(name!);
        if (!status) return notFound;
        const sink = part === 'source' ? undefined : findSink(name);
        const source = part === 'sink' ? undefined : findSource(name);
        if (!sink && !source) return { status: 404, body: { error: `connector ${name} has no ${part}` } };
        for (const target of [sink, source]) {
          if (action === 'pause') target?.pause();
          else target?.resume();
        }
        return { status: 200, body: statusOf(name!)! };
      },
    },
  ];
}
