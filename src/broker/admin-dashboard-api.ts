/**
 * The admin API routes the web dashboard reads: an overview, paged and filtered sessions (10,000
 * clients stay usable: the page is cut on the server), a lazily expanded topic tree with
 * per-topic message rates, retained messages browsed by prefix, and the once-a-second stats stream
 * (Server-Sent Events; sampled by dashboard-stats.ts). All read-only; disconnecting and deleting
 * use the routes of admin-api.ts.
 */
import type { HttpResponse, HttpRoute } from '../observability/index.js';
import type { Session } from '../session/index.js';
import { isValidTopicName, parseSharedFilter } from '../topics/index.js';
import type { BrokerAdmin } from './admin.js';
import { dashboardAssetRoutes } from './dashboard-assets.js';
import { DashboardStats, readStream, streamFigures } from './dashboard-stats.js';
import { BROKER_VERSION } from './version.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
/** Retained payloads in a browse page are cut to this many bytes (the full one is one request away). */
export const PREVIEW_BYTES = 2048;

class BadRequest extends Error {}

interface Page {
  offset: number;
  limit: number;
}

function pageOf(query: URLSearchParams): Page {
  const read = (name: string, fallback: number, max: number): number => {
    const raw = query.get(name);
    if (raw === null || raw === '') return fallback;
    if (!/^\d+$/.test(raw)) throw new BadRequest(`${name} must be a whole number`);
    return Math.min(Number(raw), max);
  };
  return { offset: read('offset', 0, Number.MAX_SAFE_INTEGER), limit: read('limit', DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) };
}

function paged<T>(items: T[], page: Page): { total: number; offset: number; limit: number; items: T[] } {
  return { total: items.length, offset: page.offset, limit: page.limit, items: items.slice(page.offset, page.offset + page.limit) };
}

function isoOrNull(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

/** One row of the sessions view (the clients view is its online part). */
function describeSession(broker: BrokerAdmin, session: Session): Record<string, unknown> {
  const connection = broker.client(session.clientId);
  const oldestQueuedAt = session.oldestQueuedAt;
  return {
    id: session.clientId,
    isOnline: session.isOnline,
    address: connection?.remoteAddress ?? null,
    protocol: session.protocolVersion,
    username: session.username ?? null,
    keepAliveSeconds: connection ? (connection.keepAlive?.keepAliveSeconds ?? 0) : null,
    connectedSince: isoOrNull(connection?.connectedAt),
    disconnectedAt: isoOrNull(session.disconnectedAt),
    sessionExpiryInterval: session.expiryInterval,
    isPersistent: session.isPersistent,
    subscriptions: session.subscriptions.size,
    queued: session.queuedCount,
    queuedBytes: session.queuedBytes,
    inflight: session.inflightCount,
    /** Deliveries dropped for this session, by reason. */
    dropped: { ...session.dropped },
    oldestQueuedAgeMs: oldestQueuedAt === undefined ? null : Math.max(0, broker.now() - oldestQueuedAt),
  };
}

const SESSION_SORTS: Record<string, (a: Session, b: Session) => number> = {
  id: (a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0),
  queued: (a, b) => b.queuedCount - a.queuedCount || SESSION_SORTS.id!(a, b),
};

function listSessions(broker: BrokerAdmin, query: URLSearchParams): HttpResponse {
  const page = pageOf(query);
  const state = query.get('state') ?? 'all';
  if (!['all', 'online', 'offline'].includes(state)) throw new BadRequest('state must be all, online or offline');
  const sortName = query.get('sort') ?? 'id';
  const sort = SESSION_SORTS[sortName];
  if (!sort) throw new BadRequest(`sort must be one of ${Object.keys(SESSION_SORTS).join(', ')}`);
  const needle = (query.get('q') ?? '').toLowerCase();
  const wanted: Session[] = [];
  for (const session of broker.sessions()) {
    // Internal sessions (bridges) are the broker's own, not clients.
    if (session.clientId.startsWith('$')) continue;
    if (state === 'online' && !session.isOnline) continue;
    if (state === 'offline' && session.isOnline) continue;
    if (needle !== '') {
      const address = broker.client(session.clientId)?.remoteAddress ?? '';
      const haystack = `${session.clientId}\n${session.username ?? ''}\n${address}`.toLowerCase();
      if (!haystack.includes(needle)) continue;
    }
    wanted.push(session);
  }
  wanted.sort(sort);
  const result = paged(wanted, page);
  return { status: 200, body: { ...result, items: result.items.map((s) => describeSession(broker, s)) } };
}

interface TreeChild {
  name: string;
  path: string;
  /** Subscriptions whose filter is exactly this path. */
  subscriptions: number;
  /** Subscriptions at or below this path. */
  subscriptionsBelow: number;
  retainedBelow: number;
  /** Messages per second published to topics at or below this path, over the last window. */
  messagesPerSecond: number;
  hasChildren: boolean;
}

/** The direct children of `parent` ('' = the root), gathered from filters, retained topics and rates. */
function topicChildren(broker: BrokerAdmin, parent: string): HttpResponse {
  const rates = broker.topicRates.read();
  const children = new Map<string, TreeChild>();
  const prefix = parent === '' ? '' : `${parent}/`;
  const here: Array<{ clientId: string; filter: string; qos: number; shareGroup: string | null }> = [];
  const visit = (path: string, apply: (child: TreeChild, isChild: boolean) => void): void => {
    if (!path.startsWith(prefix) || path === parent) return;
    const rest = path.slice(prefix.length);
    const slash = rest.indexOf('/');
    const name = slash < 0 ? rest : rest.slice(0, slash);
    let child = children.get(name);
    if (!child) {
      child = { name, path: prefix + name, subscriptions: 0, subscriptionsBelow: 0, retainedBelow: 0, messagesPerSecond: 0, hasChildren: false };
      children.set(name, child);
    }
    if (slash >= 0) child.hasChildren = true;
    apply(child, slash < 0);
  };
  for (const session of broker.sessions()) {
    for (const subscription of session.subscriptions.values()) {
      const shared = parseSharedFilter(subscription.filter);
      const filter = shared ? shared.filter : subscription.filter;
      if (filter === parent) {
        here.push({ clientId: session.clientId, filter: subscription.filter, qos: subscription.qos, shareGroup: shared?.group ?? null });
      }
      visit(filter, (child, isChild) => {
        child.subscriptionsBelow++;
        if (isChild) child.subscriptions++;
      });
    }
  }
  for (const { topic } of broker.matchRetained(parent === '' ? '#' : `${parent}/#`)) visit(topic, (child) => child.retainedBelow++);
  let messagesPerSecondHere = 0;
  for (const [topic, perSecond] of rates.perSecond) {
    if (topic === parent) messagesPerSecondHere += perSecond;
    visit(topic, (child) => (child.messagesPerSecond += perSecond));
  }
  const sorted = [...children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  here.sort((a, b) => (a.clientId < b.clientId ? -1 : 1));
  return {
    status: 200,
    body: {
      parent,
      messagesPerSecond: messagesPerSecondHere,
      rateWindowMs: rates.windowMs,
      isRateReady: rates.hasWindow,
      children: sorted,
      // Subscriptions with exactly this filter (the first page of them; the rest are counted).
      subscribers: here.slice(0, MAX_PAGE_SIZE),
      subscriberCount: here.length,
    },
  };
}

function isUtf8Text(payload: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(payload);
    return true;
  } catch {
    return false;
  }
}

function browseRetained(broker: BrokerAdmin, query: URLSearchParams): HttpResponse {
  const page = pageOf(query);
  const prefix = (query.get('prefix') ?? '').replace(/\/+$/, '');
  if (prefix !== '' && !isValidTopicName(prefix)) throw new BadRequest('prefix must be topic levels without wildcards');
  const needle = query.get('q') ?? '';
  const found = broker
    .matchRetained(prefix === '' ? '#' : `${prefix}/#`)
    .filter(({ topic }) => needle === '' || topic.includes(needle))
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
  const result = paged(found, page);
  return {
    status: 200,
    body: {
      ...result,
      items: result.items.map(({ topic, value }) => {
        const preview = value.payload.subarray(0, PREVIEW_BYTES);
        return {
          topic,
          qos: value.qos,
          bytes: value.payload.length,
          isUtf8: isUtf8Text(value.payload),
          contentType: value.properties?.contentType ?? null,
          payloadBase64: preview.toString('base64'),
          isTruncated: preview.length < value.payload.length,
        };
      }),
    },
  };
}

function overview(broker: BrokerAdmin): HttpResponse {
  const bound = broker.boundAddresses;
  const http = broker.httpBoundAddress;
  return {
    status: 200,
    body: {
      version: BROKER_VERSION,
      node: process.version,
      startedAt: new Date(broker.stats.startedAt).toISOString(),
      uptimeSeconds: Math.floor((broker.now() - broker.stats.startedAt) / 1000),
      listeners: broker.config.listeners.map((listener, i) => ({
        type: listener.type,
        host: listener.host,
        port: bound[i]?.port ?? listener.port,
        path: listener.type === 'ws' || listener.type === 'wss' ? (listener.path ?? '/mqtt') : null,
      })),
      http: http ? { host: http.address, port: http.port } : null,
      ...streamFigures(readStream(broker)),
      clientsMaximum: broker.stats.clientsMaximum,
      bridges: broker.services.length,
      // What this broker runs, so the dashboard shows only what is there: connectors and durable
      // queues once either is configured (their state: /api/v1/connectors, /api/v1/queues).
      features: { bridges: true, connectors: broker.config.connectors.length > 0 || broker.config.queues.length > 0, cluster: false },
    },
  };
}

/** The dashboard's routes over one broker; only the stats stream is sampled, the rest is read at request time. */
export class DashboardApi {
  readonly stats: DashboardStats;

  constructor(private readonly broker: BrokerAdmin) {
    this.stats = new DashboardStats(broker);
  }

  private guarded(handle: (query: URLSearchParams) => HttpResponse): HttpRoute['handle'] {
    return (_params, query) => {
      this.stats.wake();
      try {
        return handle(query);
      } catch (error) {
        if (error instanceof BadRequest) return { status: 400, body: { error: error.message } };
        throw error;
      }
    };
  }

  routes(): HttpRoute[] {
    return [
      { method: 'GET', path: /^\/api\/v1\/overview$/, handle: this.guarded(() => overview(this.broker)) },
      { method: 'GET', path: /^\/api\/v1\/sessions$/, handle: this.guarded((query) => listSessions(this.broker, query)) },
      { method: 'GET', path: /^\/api\/v1\/topics$/, handle: this.guarded((query) => topicChildren(this.broker, (query.get('parent') ?? '').replace(/\/+$/, ''))) },
      { method: 'GET', path: /^\/api\/v1\/retained\/browse$/, handle: this.guarded((query) => browseRetained(this.broker, query)) },
      { method: 'GET', path: /^\/api\/v1\/stats\/history$/, handle: this.guarded(() => this.stats.history()) },
      { method: 'GET', path: /^\/api\/v1\/stats\/stream$/, handle: this.guarded(() => this.stats.stream()) },
      ...dashboardAssetRoutes(() => this.webSocketPorts()),
    ];
  }

  /** Ports of the broker's WebSocket listeners: the dashboard's MQTT console may connect there (CSP connect-src). */
  private webSocketPorts(): Array<{ scheme: 'ws' | 'wss'; port: number }> {
    const bound = this.broker.boundAddresses;
    return this.broker.config.listeners.flatMap((listener, i) =>
      listener.type === 'ws' || listener.type === 'wss' ? [{ scheme: listener.type, port: bound[i]?.port ?? listener.port }] : [],
    );
  }
}

/** The dashboard's routes, for adminRoutes to include. */
export function dashboardRoutes(broker: BrokerAdmin): HttpRoute[] {
  return new DashboardApi(broker).routes();
}
