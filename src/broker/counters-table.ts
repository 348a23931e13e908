/**
 * The broker's counters table: every counter and gauge once, with its key (the JSON name), help
 * text, `$SYS/broker/…` topic, Prometheus name and place in the dashboard's stats stream. `$SYS`
 * (sys-topics.ts), `/api/v1/stats`, `/metrics` and the stats stream with `/api/v1/overview`
 * (admin-dashboard-api.ts) are generated from it (observability/counters.ts renders them), so
 * they agree. Data only: the reading each row's `value` takes is counters.ts'.
 *
 * Names kept for those who read them: the `$SYS` names are Mosquitto's (`clients/active`,
 * `clients/inactive` and `publish/messages/*` are its aliases, kept), the JSON keys are those the
 * dashboard and scripts read, the Prometheus names those of earlier releases, the stream's field
 * and refusal names those the dashboard has shown.
 */
import type { CounterTable, LabelledValue } from '../observability/index.js';
import { describeStoreHealth } from '../store/index.js';
import { SESSIONS_DROPPING_LIMIT, type CountersReading } from './counters.js';
import { BROKER_VERSION } from './version.js';

function byKey(record: Readonly<Record<string, number>>): LabelledValue[] {
  return Object.entries(record).map(([key, n]): LabelledValue => [[key], n]);
}

/**
 * The table. Order matters only for `$SYS`, published in this order (`store/state` last, as
 * before). A row without `sys` or `prometheus` is not in that view; every row is in the JSON view
 * unless `json: false` says why not.
 */
export const BROKER_COUNTERS: CounterTable<CountersReading> = [
  { key: 'version', kind: 'text', help: 'Midge version', sys: ['version'], sysText: (v) => `midge version ${v}`, value: () => BROKER_VERSION },
  { key: 'uptimeSeconds', kind: 'number', type: 'gauge', help: 'Seconds since the broker started', sys: ['uptime'], sysText: (v) => `${v} seconds`, value: (r) => r.uptimeSeconds },
  {
    key: 'clientsConnected',
    kind: 'number',
    type: 'gauge',
    help: 'Open client connections (after CONNACK)',
    sys: ['clients/connected', 'clients/active'],
    prometheus: 'midge_connections',
    stream: { field: 'connections' },
    value: (r) => r.clientsConnected,
  },
  {
    key: 'clientsDisconnected',
    kind: 'number',
    type: 'gauge',
    help: 'Sessions kept whose client is not connected',
    sys: ['clients/disconnected', 'clients/inactive'],
    value: (r) => r.sessions - r.clientsConnected,
  },
  {
    key: 'sessions',
    kind: 'number',
    type: 'gauge',
    help: 'Sessions known (online and offline)',
    sys: ['clients/total'],
    prometheus: 'midge_sessions',
    stream: { field: 'sessions' },
    value: (r) => r.sessions,
  },
  {
    key: 'clientsMaximum',
    kind: 'number',
    type: 'gauge',
    help: 'Most clients connected at once since the broker started',
    sys: ['clients/maximum'],
    prometheus: 'midge_connections_maximum',
    value: (r) => r.stats.clientsMaximum,
  },
  {
    key: 'messagesReceived',
    kind: 'number',
    type: 'counter',
    help: 'Messages received: client PUBLISH packets, wills, bridge and connector input, the publish API',
    sys: ['messages/received', 'publish/messages/received'],
    stream: { field: 'messagesReceived', rate: 'messagesInPerSecond' },
    value: (r) => r.stats.messagesReceived,
  },
  {
    key: 'messagesSent',
    kind: 'number',
    type: 'counter',
    help: 'PUBLISH packets sent to clients',
    sys: ['messages/sent', 'publish/messages/sent'],
    stream: { field: 'messagesSent', rate: 'messagesOutPerSecond' },
    value: (r) => r.stats.messagesSent,
  },
  {
    key: 'publishBytesReceived',
    kind: 'number',
    type: 'counter',
    help: 'Payload bytes of the messages received (every ingest path)',
    sys: ['publish/bytes/received'],
    prometheus: 'midge_publish_bytes_received_total',
    value: (r) => r.stats.publishBytesReceived,
  },
  {
    key: 'bytesReceived',
    kind: 'number',
    type: 'counter',
    help: 'Bytes read from client sockets',
    sys: ['bytes/received'],
    prometheus: 'midge_bytes_received_total',
    stream: { field: 'bytesReceived', rate: 'bytesInPerSecond' },
    value: (r) => r.stats.bytesReceived,
  },
  {
    key: 'bytesSent',
    kind: 'number',
    type: 'counter',
    help: 'Bytes written to client sockets',
    sys: ['bytes/sent'],
    prometheus: 'midge_bytes_sent_total',
    stream: { field: 'bytesSent', rate: 'bytesOutPerSecond' },
    value: (r) => r.stats.bytesSent,
  },
  {
    key: 'subscriptions',
    kind: 'number',
    type: 'gauge',
    help: 'Subscriptions (shared-group memberships count one each)',
    sys: ['subscriptions/count'],
    prometheus: 'midge_subscriptions',
    stream: { field: 'subscriptions' },
    value: (r) => r.subscriptions,
  },
  {
    key: 'retainedMessages',
    kind: 'number',
    type: 'gauge',
    help: 'Retained messages',
    sys: ['retained messages/count'],
    prometheus: 'midge_retained_messages',
    stream: { field: 'retained' },
    value: (r) => r.retained,
  },
  {
    key: 'storeBytes',
    kind: 'number',
    type: 'gauge',
    help: 'Approximate size of the store on disk, bytes (when the store can tell)',
    sys: ['store/size'],
    // Read asynchronously from the store: only the $SYS publication waits for it.
    json: false,
    value: (r) => r.storeBytes,
  },
  {
    key: 'dropped',
    kind: 'labelled',
    type: 'counter',
    labels: ['reason'],
    help: 'Deliveries not made, by reason',
    sys: 'messages/dropped/{reason}',
    prometheus: 'midge_messages_dropped_total',
    stream: { group: 'dropped' },
    value: (r) => byKey(r.stats.dropped),
  },
  {
    key: 'sessionsDropping',
    kind: 'labelled',
    type: 'gauge',
    labels: ['client_id', 'reason'],
    help: `Deliveries dropped for one session, by reason (the ${SESSIONS_DROPPING_LIMIT} sessions that dropped the most)`,
    sys: 'sessions/{client_id}/dropped/{reason}',
    prometheus: 'midge_session_dropped_messages',
    omitZero: true,
    // Per session: GET /api/v1/clients/<id> has each session's counts.
    json: false,
    value: (r) => r.sessionsDropping.flatMap((s) => Object.entries(s.dropped).map(([reason, n]): LabelledValue => [[s.clientId, reason], n])),
  },
  { key: 'storeState', kind: 'text', help: '`ok`, or since when and why store writes fail (a full disk)', sys: ['store/state'], value: (r) => describeStoreHealth(r.storeHealth) },
  {
    key: 'messagesReceivedByQos',
    kind: 'qos',
    type: 'counter',
    help: 'Messages received (client PUBLISH packets, wills, bridge and connector input, the publish API), by QoS',
    prometheus: 'midge_messages_received_total',
    value: (r) => r.stats.messagesReceivedByQos,
  },
  {
    key: 'messagesSentByQos',
    kind: 'qos',
    type: 'counter',
    help: 'PUBLISH packets sent to clients, by QoS',
    prometheus: 'midge_messages_sent_total',
    value: (r) => r.stats.messagesSentByQos,
  },
  { key: 'queuedMessages', kind: 'number', type: 'gauge', help: 'Deliveries waiting in session queues', prometheus: 'midge_queued_messages', stream: { field: 'queued' }, value: (r) => r.queued },
  { key: 'inflightMessages', kind: 'number', type: 'gauge', help: 'QoS 1/2 deliveries sent and not yet acknowledged', prometheus: 'midge_inflight_messages', stream: { field: 'inflight' }, value: (r) => r.inflight },
  { key: 'connectionsAccepted', kind: 'number', type: 'counter', help: 'Network connections accepted (before CONNECT)', prometheus: 'midge_connections_accepted_total', value: (r) => r.stats.connectionsAccepted },
  { key: 'connectsTotal', kind: 'number', type: 'counter', help: 'Accepted CONNECTs', prometheus: 'midge_connects_total', value: (r) => r.stats.connectsTotal },
  {
    key: 'connectsRefusedByReason',
    kind: 'labelled',
    type: 'counter',
    labels: ['reason'],
    help: 'Refused CONNECTs by reason code',
    prometheus: 'midge_connects_refused_total',
    stream: { group: 'refused', prefix: 'connect ' },
    value: (r) => byKey(r.stats.connectsRefusedByReason),
  },
  {
    key: 'disconnectsByReason',
    kind: 'labelled',
    type: 'counter',
    labels: ['reason'],
    help: 'Closed client connections by reason',
    prometheus: 'midge_disconnects_total',
    value: (r) => byKey(r.stats.disconnectsByReason),
  },
  {
    key: 'protocolViolations',
    kind: 'number',
    type: 'counter',
    help: 'Connections closed for a protocol violation',
    prometheus: 'midge_protocol_violations_total',
    stream: { group: 'refused', label: 'protocol violation' },
    value: (r) => r.stats.protocolViolations,
  },
  {
    key: 'retainedRefused',
    kind: 'number',
    type: 'counter',
    help: 'Retained messages not kept: the retained store was full',
    prometheus: 'midge_retained_refused_total',
    stream: { group: 'refused', label: 'retained store full' },
    value: (r) => r.stats.retainedRefused,
  },
  {
    key: 'publishThrottled',
    kind: 'number',
    type: 'counter',
    help: 'Times a client was paused for going over its publish rate limit',
    prometheus: 'midge_publish_throttled_total',
    stream: { group: 'refused', label: 'publish throttled' },
    value: (r) => r.stats.publishThrottled,
  },
  {
    key: 'connectsRateLimited',
    kind: 'number',
    type: 'counter',
    help: 'CONNECTs refused by the per-address connect rate limit',
    prometheus: 'midge_connects_rate_limited_total',
    stream: { group: 'refused', label: 'connect rate limit' },
    value: (r) => r.stats.connectsRateLimited,
  },
  // /metrics has the batch count as midge_store_batch_seconds_count (the histogram).
  { key: 'storeBatchesWritten', kind: 'number', type: 'counter', help: 'Group-commit batches written to the store', value: (r) => r.storeBatchesWritten },
  {
    key: 'storeWritable',
    kind: 'number',
    type: 'gauge',
    help: 'Store writes succeed: 1; failing (disk full?), acknowledgements withheld: 0',
    prometheus: 'midge_store_writable',
    // The JSON view has storeState, which says this and more.
    json: false,
    value: (r) => (r.storeHealth.isWritable ? 1 : 0),
  },
  {
    key: 'storeWriteFailureEpisodes',
    kind: 'number',
    type: 'counter',
    help: 'Times store writes started failing (each episode ends when a retried write succeeds)',
    prometheus: 'midge_store_write_failure_episodes_total',
    value: (r) => r.storeHealth.episodes,
  },
  {
    key: 'bridgeConnected',
    kind: 'labelled',
    type: 'gauge',
    labels: ['bridge'],
    help: 'Bridge link to its remote broker: 1 up, 0 down',
    prometheus: 'midge_bridge_connected',
    // Per bridge: GET /api/v1/bridges.
    json: false,
    value: (r) => r.bridges.map((b): LabelledValue => [[b.name], b.isConnected ? 1 : 0]),
  },
  {
    key: 'bridgeQueuedMessages',
    kind: 'labelled',
    type: 'gauge',
    labels: ['bridge'],
    help: 'Messages stored for a bridge until its remote takes them',
    prometheus: 'midge_bridge_queued_messages',
    json: false,
    value: (r) => r.bridges.map((b): LabelledValue => [[b.name], b.queued]),
  },
];
