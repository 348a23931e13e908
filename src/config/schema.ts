/**
 * The configuration, written once: every key is one zod schema here with its range check, its
 * default (`.default()`, or `.prefault({})` for a section whose keys carry their own) and its
 * meaning (`.describe()`, the text of its README row — test/config/readme-table.test.ts holds the
 * two together). The types (`BrokerConfig`, `ConfigInput`), the per-source checks of files and
 * the environment, and the defaults all derive from this schema.
 *
 * Adding a section: one entry in `configSchema` below (its schema, default and description), a
 * row in README's "Configuration reference". Nothing else needs to know.
 */
import * as z from 'zod';
import { authEntrySchema, authorizationSchema, lockoutSchema, namedChainSchema, usersStoreSchema } from './auth-config.js';
import { connectorsSchema } from './connectors.js';
import { queuesSchema } from './queues.js';

export type ListenerType = 'mqtt' | 'mqtts' | 'ws' | 'wss';

export const DEFAULT_PORTS: Record<ListenerType, number> = { mqtt: 1883, mqtts: 8883, ws: 8080, wss: 8081 };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const SHARED_STRATEGIES = ['round-robin', 'random', 'sticky'] as const;
export type SharedSubscriptionStrategy = (typeof SHARED_STRATEGIES)[number];

const int = (min: number, max: number): z.ZodNumber => z.number().int().min(min).max(max);
const qos = (): z.ZodUnion<[z.ZodLiteral<0>, z.ZodLiteral<1>, z.ZodLiteral<2>]> => z.union([z.literal(0), z.literal(1), z.literal(2)]);

const listenerSchema = z
  .object({
    type: z.enum(['mqtt', 'mqtts', 'ws', 'wss']).describe('the transport: mqtt (TCP), mqtts (TLS), ws, wss'),
    host: z.string().min(1).describe('the address to listen on'),
    port: int(0, 65535).optional().describe("the port; left out, the type's usual one (1883, 8883, 8080, 8081); 0 = any free port"),
    path: z.string().startsWith('/').optional().describe('ws/wss: the HTTP path of the WebSocket endpoint (default /mqtt)'),
    cert: z.string().min(1).optional().describe('mqtts/wss: PEM certificate file'),
    key: z.string().min(1).optional().describe('mqtts/wss: PEM private key file'),
    ca: z.string().min(1).optional().describe('mqtts/wss: PEM CA file for client certificates'),
    requireClientCert: z.boolean().optional().describe('mqtts/wss: refuse clients without a certificate signed by ca'),
    proxyProtocol: z.boolean().optional().describe('mqtt, mqtts: expect a HAProxy PROXY protocol (v1/v2) header on every connection (before TLS)'),
    authChain: z.string().min(1).optional().describe("the name of an auth.chains entry: this listener's own authentication/authorization chain"),
  })
  .strict()
  .superRefine((listener, ctx) => {
    const isTls = listener.type === 'mqtts' || listener.type === 'wss';
    if (isTls && (!listener.cert || !listener.key)) ctx.addIssue({ code: 'custom', message: `${listener.type} needs cert and key`, path: ['cert'] });
    if (!isTls && (listener.cert || listener.key || listener.ca || listener.requireClientCert)) {
      ctx.addIssue({ code: 'custom', message: `cert/key/ca/requireClientCert only apply to mqtts and wss`, path: ['type'] });
    }
    if (listener.requireClientCert && !listener.ca) ctx.addIssue({ code: 'custom', message: 'requireClientCert needs ca', path: ['ca'] });
    if (listener.path && listener.type !== 'ws' && listener.type !== 'wss') ctx.addIssue({ code: 'custom', message: 'path only applies to ws and wss', path: ['path'] });
  })
  // A listener without a port gets its type's usual one.
  .transform((listener) => ({ ...listener, port: listener.port ?? DEFAULT_PORTS[listener.type] }));

/** The first MQTT listener as the --host/--port flags, MIDGE_HOST/MIDGE_PORT and createBroker's shorthand shape it. */
export function firstListener(host: string | undefined, port: number | undefined): z.input<typeof listenerSchema> & { port: number } {
  return { type: 'mqtt', host: host ?? '127.0.0.1', port: port ?? DEFAULT_PORTS.mqtt };
}

const limitsSchema = z
  .object({
    maxConnections: int(1, 10_000_000).default(10_000).describe('most simultaneous connections; further sockets are closed at once'),
    maxPacketSize: int(64, 268_435_455).default(1024 * 1024).describe('largest MQTT packet accepted, in bytes (whole packet)'),
    maxConnectPacketSize: int(64, 268_435_455)
      .default(16 * 1024)
      .describe('largest packet accepted before CONNECT has been accepted (the CONNECT itself, and AUTH during its exchange)'),
    maxInflight: int(1, 65_535).default(32).describe('unacknowledged QoS 1/2 deliveries per client (capped further by its Receive Maximum)'),
    maxQueuedMessages: int(0, 100_000_000).default(100_000).describe('messages queued per session'),
    maxQueuedBytes: int(0, Number.MAX_SAFE_INTEGER).default(64 * 1024 * 1024).describe('bytes queued per session'),
    receiveMaximum: int(1, 65_535).default(32).describe('Receive Maximum announced to MQTT 5 clients for their QoS 1/2 publishes'),
    topicAliasMaximum: int(0, 65_535).default(64).describe('Topic Alias Maximum announced to MQTT 5 clients'),
    outgoingTopicAliasMaximum: int(0, 65_535)
      .default(64)
      .describe('most topic aliases Midge assigns to the topics it sends one MQTT 5 client (also bounded by the client’s own maximum); 0 = never'),
    connectTimeoutMs: int(1, 3_600_000).default(10_000).describe('a connection that has not sent CONNECT by then is closed'),
    socketBufferBytes: int(1024, 1024 * 1024 * 1024).default(1024 * 1024).describe('bytes buffered for a slow subscriber’s socket before deliveries wait in its queue'),
    maxRetainedMessages: int(0, 100_000_000).default(100_000).describe('retained topics kept'),
    maxRetainedBytes: int(0, Number.MAX_SAFE_INTEGER).default(64 * 1024 * 1024).describe('retained payload bytes kept'),
    maximumQoS: qos().default(2).describe('highest QoS accepted from publishers (MQTT 5 Maximum QoS in CONNACK when below 2)'),
    maxKeepAlive: int(1, 65_535).default(65_535).describe('longest keep-alive allowed, seconds; MQTT 5 clients asking for more (or 0) get Server Keep Alive'),
    maxSubscriptionsPerClient: int(1, 10_000_000).default(1000).describe('topic filters one client may hold'),
    maxTopicLength: int(1, 65_535).default(4096).describe('longest topic name or filter, UTF-8 bytes'),
    maxTopicLevels: int(1, 65_535).default(64).describe("most '/'-separated levels in a topic name or filter"),
    maxClientIdLength: int(23, 65_535).default(256).describe('longest client id accepted'),
    maxPublishRate: int(0, 100_000_000).default(0).describe('PUBLISH packets per second per client, 0 = unlimited; beyond it the client’s socket is paused'),
    maxPublishBytesRate: int(0, Number.MAX_SAFE_INTEGER).default(0).describe('PUBLISH payload bytes per second per client, 0 = unlimited; throttled the same way'),
    maxConnectRatePerAddress: int(0, 1_000_000).default(0).describe('CONNECTs per second per client address, 0 = unlimited; beyond it CONNACK 0x9F (3.1.1: 3)'),
  })
  .strict();

const authSchema = z
  .object({
    allowAnonymous: z
      .boolean()
      .default(false)
      .describe('accept anonymous clients on a non-loopback listener (and, with a password file, clients without a user name)'),
    passwordFile: z.string().min(1).optional().describe('Mosquitto-format password file'),
    aclFile: z.string().min(1).optional().describe('Mosquitto-format ACL file'),
    useIdentityAsUsername: z.boolean().default(false).describe('TLS client certificate CN as the user name'),
    chain: z
      .array(authEntrySchema)
      .optional()
      .describe('authentication entries tried in order: `jwt`, `http`, `users`, `passwordFile`, `certificate`, `anonymous` (see Securing a fleet)'),
    authorization: authorizationSchema.optional(),
    chains: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]+$/), namedChainSchema)
      .optional()
      .describe('a named `{ chain, authorization }` a listener picks with `listeners[].authChain`'),
    lockout: lockoutSchema.prefault({}),
    users: usersStoreSchema.optional(),
  })
  .strict();

const clusterSchema = z
  .object({
    nodeId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only (1-64)')
      .describe("this node's name, unique in the cluster (`MIDGE_CLUSTER__NODE_ID`); required with `cluster`"),
    engine: z.enum(['nats']).default('nats').describe('the engine; NATS JetStream is the only one'),
    servers: z
      .array(z.string().regex(/^(nats|tls):\/\/.+/, 'a nats:// URL'))
      .min(1)
      .default(['nats://127.0.0.1:4222'])
      .describe("the engine's servers (`MIDGE_CLUSTER__SERVERS` takes a JSON list)"),
    replicas: int(1, 5).default(3).describe('JetStream replicas of every engine object; 3 = an ack means stored on 2 of 3 servers'),
    ackTimeoutMs: int(100, 600_000).default(5000).describe('how long a write to the engine may go unacknowledged before it is sent again'),
  })
  .strict();

const bridgeTopicSchema = z
  .object({
    pattern: z.string().min(1).describe('topic filter (local for out, remote for in)'),
    direction: z.enum(['out', 'in', 'both']).describe('out: local to remote; in: remote to local; both'),
    qos: qos().default(1).describe('QoS of the bridge’s subscriptions and forwarded messages'),
    localPrefix: z.string().default('').describe('prefix of the topic on this broker'),
    remotePrefix: z.string().default('').describe('prefix of the topic on the remote broker'),
  })
  .strict();

const bridgeSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').describe('the bridge’s name; its session is $bridge/<name>'),
    url: z.string().regex(/^(mqtts?|wss?):\/\/.+/, 'an mqtt://, mqtts://, ws:// or wss:// URL').describe('the remote broker'),
    username: z.string().optional().describe('user name at the remote'),
    password: z.string().optional().describe('password at the remote (masked by --print-config)'),
    clientId: z.string().min(1).optional().describe('client id at the remote'),
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5).describe('MQTT version towards the remote: 4 (3.1.1) or 5'),
    keepalive: int(0, 65_535).default(60).describe('keep-alive towards the remote, seconds'),
    cleanSession: z.boolean().default(false).describe('a clean session at the remote on every connect'),
    ca: z.string().min(1).optional().describe('PEM CA file for the remote’s certificate'),
    cert: z.string().min(1).optional().describe('PEM client certificate file'),
    key: z.string().min(1).optional().describe('PEM client key file'),
    rejectUnauthorized: z.boolean().default(true).describe('refuse a remote certificate that does not verify'),
    topics: z.array(bridgeTopicSchema).min(1).describe('what is forwarded which way'),
    reconnectMinMs: int(10, 3_600_000).default(500).describe('shortest reconnect backoff'),
    reconnectMaxMs: int(10, 3_600_000).default(60_000).describe('longest reconnect backoff'),
  })
  .strict();

/** The whole configuration; `.strict()` everywhere so a misspelt key is an error, not ignored. */
export const configSchema = z
  .object({
    dataDir: z.string().min(1).default('./data').describe('where the store keeps its files (`<dataDir>/store`)'),
    cluster: clusterSchema
      .nullable()
      .default(null)
      .describe('several nodes as one broker on NATS JetStream (see Cluster); `null` = a single node'),
    bridges: z.array(bridgeSchema).default([]).describe('links to remote brokers (see Bridges)'),
    connectors: connectorsSchema
      .default([])
      .describe(
        'sinks to and sources from backend services: `{ name, type: http|amqp|postgres|redis-stream, url, password, passwordFile, sink: { topics, storeQos0, … }, source: { topic, payload, qos, expirySeconds, onNoSubscriber, … } (not http), delivery: { batchSize, maxWaitMs, inflight, ordering, orderingKey, retryMinMs, retryMaxMs, deadLetterAfterAttempts, deadLetterTopic }, queue: { maxMessages, maxBytes, overflow } }` (see Connectors and queues); `MIDGE_SECRET_*` variables are secrets for `${env:…}`, not keys',
      ),
    queues: queuesSchema
      .default([])
      .describe(
        'durable point-to-point queues consumed through `$queue/<name>`: `{ name, topics, maxMessages (1000000), maxBytes (1 GiB), overflow: drop-oldest|drop-newest|reject, maxDeliveries (5), storeQos0 (false), dispatch: round-robin|least-in-flight, deadLetterTopic ($dlq/<name>), ackWaitSeconds (30: cluster mode, how long a message stays with a node that stopped answering) }` (see Connectors and queues)',
      ),
    http: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe('the admin HTTP listener (`/metrics`, `/health`, `/ready`, `/api/v1`, the dashboard at `/dashboard/`)'),
        host: z.string().min(1).default('127.0.0.1').describe('address of the admin HTTP listener'),
        port: int(0, 65535).default(8888).describe('port of the admin HTTP listener'),
        token: z.string().min(16).nullable().default(null).describe('bearer token (16+ characters) for everything but `/health`; required beyond loopback'),
      })
      .strict()
      .prefault({}),
    sys: z
      .object({ interval: int(0, 86_400).default(10).describe('seconds between `$SYS` publications; `0` = off') })
      .strict()
      .prefault({}),
    shutdownTimeoutMs: int(0, 600_000).default(10_000).describe('how long SIGTERM/SIGINT waits for clients and the disk before exiting anyway'),
    auth: authSchema.prefault({}),
    sharedSubscriptionStrategy: z.enum(SHARED_STRATEGIES).default('round-robin').describe('`round-robin`, `random` or `sticky` (per publisher)'),
    logLevel: z.enum(LOG_LEVELS).default('info').describe('`fatal` … `trace`, `silent`; changeable at runtime with SIGHUP'),
    store: z
      .object({
        type: z.enum(['level', 'memory']).default('level').describe('`level` (durable, LevelDB) or `memory` (lost on exit)'),
        fsync: z.boolean().default(false).describe('sync every commit batch to the device (see Durability)'),
      })
      .strict()
      .prefault({}),
    listeners: z
      .array(listenerSchema)
      .min(1)
      .prefault([{ type: 'mqtt', host: '127.0.0.1' }])
      .describe('list of `{ type: mqtt|mqtts|ws|wss, host, port, path, cert, key, ca, requireClientCert, proxyProtocol, authChain }`'),
    limits: limitsSchema.prefault({}),
  })
  .strict();

/** Each schema wrapper that only says "absent is fine" or "absent means this". */
const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable']);

/**
 * The same keys, every one optional and without defaults, down through nested sections (lists,
 * records and unions are checked whole): what one source — a file, the environment — may give
 * before the sources are merged. A section with a required key (cluster.nodeId) may get it from
 * another source.
 */
export function partialInputSchema(schema: z.ZodObject): z.ZodObject {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    let inner = field;
    let isNullable = false;
    while (WRAPPERS.has(inner._zod.def.type)) {
      if (inner._zod.def.type === 'nullable') isNullable = true;
      inner = (inner._zod.def as unknown as { innerType: z.ZodType }).innerType;
    }
    const partial: z.ZodType = inner instanceof z.ZodObject ? partialInputSchema(inner) : inner;
    shape[key] = (isNullable ? partial.nullable() : partial).optional();
  }
  return z.object(shape).strict();
}

/** Checks one source on its own: a typo is reported with the source that holds it. */
export const configInputSchema = partialInputSchema(configSchema);
