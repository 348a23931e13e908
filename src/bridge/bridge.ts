/**
 * A bridge to a remote MQTT broker (MQTT.js as the client). Outgoing messages ride on an
 * in-process persistent session: while the remote is unreachable they wait in the store (in order,
 * bounded, oldest dropped first), survive a Midge restart, and go out when it is back. Incoming
 * messages are acknowledged to the remote only after they are committed here.
 */
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import { readFileSync } from 'node:fs';
import type { Broker, BrokerService, ServiceStatus } from '../broker/index.js';
import type { Session, SessionLink } from '../session/index.js';
import type { BridgeConfig } from '../config/index.js';
import type { OutgoingRecord, SubscriptionRecord } from '../store/index.js';
import { comesIn, goesOut, toLocal, toRemote } from './topic-map.js';

export type { BridgeConfig };

export type BridgeStatus = ServiceStatus;

export class Bridge implements BrokerService, SessionLink {
  readonly name: string;
  private client: MqttClient | undefined;
  private session: Session | undefined;
  private isStopped = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private forwarded = 0;
  private received = 0;
  private readonly sessionId: string;
  /** MQTT.js, loaded on start: a broker without bridges does not pay its ~20 MiB and ~70 ms. */
  private connectRemote: typeof import('mqtt').connect | undefined;

  constructor(
    private readonly broker: Broker,
    private readonly config: BridgeConfig,
  ) {
    this.name = config.name;
    this.sessionId = `$bridge/${config.name}`;
  }

  get status(): BridgeStatus {
    return {
      name: this.name,
      isConnected: this.client?.connected === true,
      queued: this.session?.queuedCount ?? 0,
      inflight: this.session?.inflightCount ?? 0,
      forwarded: this.forwarded,
      received: this.received,
    };
  }

  async start(): Promise<void> {
    // Local subscriptions at QoS <= 1: the remote's acknowledgement ends the local delivery.
    // No Local keeps what came in from the remote from going straight back out.
    const subscriptions: SubscriptionRecord[] = this.config.topics.filter(goesOut).map((rule) => ({
      filter: rule.localPrefix + rule.pattern,
      qos: Math.min(rule.qos, 1) as 0 | 1,
      noLocal: true,
      retainAsPublished: true,
      retainHandling: 2,
    }));
    this.session = await this.broker.openInternalSession(this.sessionId, subscriptions, { overflowPolicy: 'drop-oldest' });
    this.publishState(false);
    this.connectRemote = (await import('mqtt')).connect;
    this.connect();
  }

  async stop(): Promise<void> {
    this.isStopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    if (this.session?.isOnline) this.session.detach(this.broker.now());
    if (client) await client.endAsync(true).catch(() => undefined);
  }

  // --- SessionLink: deliveries from the local session go to the remote ----------------------

  get isWritable(): boolean {
    return this.client?.connected === true;
  }

  sendPublish(record: OutgoingRecord, isDuplicate: boolean): void {
    const client = this.client;
    const mapped = toRemote(this.config.topics, record.message.topic);
    if (!client || !mapped) {
      if (record.packetId !== undefined) this.session?.acknowledge(record.packetId);
      return;
    }
    const qos = Math.min(record.qos === 0 ? 0 : mapped.rule.qos, 2) as 0 | 1 | 2;
    const options: Parameters<MqttClient['publish']>[2] = { qos, retain: record.retain, dup: isDuplicate };
    if (this.config.protocolVersion === 5 && record.message.properties) options.properties = { ...record.message.properties };
    const packetId = record.packetId;
    client.publish(mapped.topic, record.message.payload, options, (error) => {
      if (error) return; // the connection dropped: the delivery stays in flight and is resent
      this.forwarded++;
      if (packetId !== undefined && this.client === client) this.session?.acknowledge(packetId);
    });
  }

  sendPubrel(): void {
    // Local subscriptions are QoS <= 1: there is no QoS 2 release step on this side.
  }

  // --- the remote connection ------------------------------------------------------------------

  private connect(): void {
    if (this.isStopped || !this.connectRemote) return;
    const c = this.config;
    const options: IClientOptions = {
      clientId: c.clientId ?? `midge-bridge-${c.name}`,
      clean: c.cleanSession,
      keepalive: c.keepalive,
      protocolVersion: c.protocolVersion,
      // Reconnects are ours (backoff with jitter); a fresh client each time drops MQTT.js's own
      // memory of in-flight messages, which the session resends instead.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      rejectUnauthorized: c.rejectUnauthorized,
    };
    if (c.username !== undefined) options.username = c.username;
    if (c.password !== undefined) options.password = c.password;
    if (c.ca) options.ca = readFileSync(c.ca);
    if (c.cert) options.cert = readFileSync(c.cert);
    if (c.key) options.key = readFileSync(c.key);
    const client = this.connectRemote(c.url, options);
    this.client = client;
    // Acknowledge a remote message only once it is committed here (QoS 1; see subscribe below).
    client.handleMessage = (packet, done) => {
      this.receive(packet).then(
        () => done(),
        (error: unknown) => done(error as Error),
      );
    };
    client.on('connect', () => this.onConnect(client));
    client.on('error', (error) => this.broker.logger.debug({ bridge: c.name, err: error.message }, 'bridge connection error'));
    client.on('close', () => this.onClose(client));
  }

  private onConnect(client: MqttClient): void {
    if (this.client !== client || this.isStopped) return;
    this.attempt = 0;
    this.broker.logger.info({ bridge: this.name, url: this.config.url }, 'bridge connected');
    this.publishState(true);
    const remote = this.config.topics.filter(comesIn).map((rule) => ({
      topic: rule.remotePrefix + rule.pattern,
      // QoS 2 in would PUBREC before our commit; QoS 1 acks after it, so acknowledged = stored.
      qos: Math.min(rule.qos, 1) as 0 | 1,
      ...(this.config.protocolVersion === 5 ? { nl: true } : {}),
    }));
    if (remote.length > 0) {
      client.subscribe(
        Object.fromEntries(remote.map((r) => [r.topic, { qos: r.qos, ...(r.nl ? { nl: true } : {}) }])),
        (error) => {
          if (error) this.broker.logger.warn({ bridge: this.name, err: error.message }, 'bridge subscription failed');
        },
      );
    }
    this.session?.attach(this, 32);
  }

  private onClose(client: MqttClient): void {
    if (this.client !== client) return;
    if (this.session?.isOnline) {
      this.session.detach(this.broker.now());
      this.broker.logger.warn({ bridge: this.name, queued: this.session.queuedCount }, 'bridge disconnected; storing messages until it is back');
    }
    this.publishState(false);
    this.client = undefined;
    client.removeAllListeners('close');
    client.end(true);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.isStopped || this.reconnectTimer) return;
    const base = Math.min(this.config.reconnectMaxMs, this.config.reconnectMinMs * 2 ** this.attempt);
    // Jitter spreads the reconnects of a fleet of gateways after an outage.
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private async receive(packet: IPublishPacket): Promise<void> {
    const mapped = toLocal(this.config.topics, packet.topic);
    if (!mapped) return;
    this.received++;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const { topicAlias: _alias, subscriptionIdentifier: _ids, ...properties } = packet.properties ?? {};
    await this.broker.publishInternal(
      {
        topic: mapped.topic,
        payload,
        qos: Math.min(packet.qos, mapped.rule.qos) as 0 | 1 | 2,
        retain: packet.retain,
        ...(Object.keys(properties).length > 0 ? { properties } : {}),
      },
      this.sessionId,
    );
  }

  /** `$SYS/broker/connection/<name>/state`: 1 connected, 0 not (as Mosquitto). */
  private publishState(isConnected: boolean): void {
    this.broker.publishEphemeralRetained({
      topic: `$SYS/broker/connection/${this.name}/state`,
      payload: Buffer.from(isConnected ? '1' : '0'),
      qos: 0,
      retain: true,
    });
  }
}
