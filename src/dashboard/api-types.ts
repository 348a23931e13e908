/**
 * The shapes of the admin API's answers the dashboard reads, as types only (no DOM, no code), so
 * the broker's tests can hold the broker to them: test/broker/counters-views.test.ts checks that
 * the stats stream's samples have exactly the fields of `StatsSample`.
 */

/** One sample of /api/v1/stats/stream: the stream view of the broker's counters table (its rows' `stream` places). */
export interface StatsSample {
  /** Epoch ms. */
  at: number;
  messagesInPerSecond: number;
  messagesOutPerSecond: number;
  bytesInPerSecond: number;
  bytesOutPerSecond: number;
  connections: number;
  sessions: number;
  subscriptions: number;
  retained: number;
  queued: number;
  inflight: number;
  dropped: Record<string, number>;
  refused: Record<string, number>;
  droppedPerSecond: number;
  refusedPerSecond: number;
}

export interface PageOf<T> {
  total: number;
  offset: number;
  limit: number;
  items: T[];
}

export interface SessionRow {
  id: string;
  isOnline: boolean;
  address: string | null;
  protocol: number;
  username: string | null;
  keepAliveSeconds: number | null;
  connectedSince: string | null;
  disconnectedAt: string | null;
  sessionExpiryInterval: number;
  isPersistent: boolean;
  subscriptions: number;
  queued: number;
  queuedBytes: number;
  inflight: number;
  dropped: Record<string, number>;
  oldestQueuedAgeMs: number | null;
}

export interface Listener {
  type: 'mqtt' | 'mqtts' | 'ws' | 'wss';
  host: string;
  port: number;
  path: string | null;
}

export interface Overview {
  version: string;
  node: string;
  startedAt: string;
  uptimeSeconds: number;
  listeners: Listener[];
  http: { host: string; port: number } | null;
  connections: number;
  clientsMaximum: number;
  sessions: number;
  subscriptions: number;
  retained: number;
  queued: number;
  inflight: number;
  dropped: Record<string, number>;
  refused: Record<string, number>;
  bridges: number;
  features: { bridges: boolean; connectors: boolean; cluster: boolean };
}

export interface TopicChild {
  name: string;
  path: string;
  subscriptions: number;
  subscriptionsBelow: number;
  retainedBelow: number;
  messagesPerSecond: number;
  hasChildren: boolean;
}

export interface TopicLevel {
  parent: string;
  messagesPerSecond: number;
  rateWindowMs: number;
  isRateReady: boolean;
  children: TopicChild[];
  subscribers: Array<{ clientId: string; filter: string; qos: number; shareGroup: string | null }>;
  subscriberCount: number;
}

export interface RetainedRow {
  topic: string;
  qos: number;
  bytes: number;
  isUtf8: boolean;
  contentType: string | null;
  payloadBase64: string;
  isTruncated: boolean;
}

export interface BridgeRow {
  name: string;
  isConnected: boolean;
  queued: number;
  inflight: number;
  forwarded: number;
  received: number;
}

/** The user store's shapes (src/auth/user-store.ts): a user never carries its hash. */
export interface UserRow {
  username: string;
  roles: string[];
  groups: string[];
  isDisabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface AclRuleRow {
  permission: 'allow' | 'deny';
  action: 'publish' | 'subscribe' | 'all';
  topic: string;
}

export interface RoleRow {
  name: string;
  acl: AclRuleRow[];
}

export interface GroupRow {
  name: string;
  roles: string[];
}
