/** MQTT.js clients and a raw-packet client for tests that need exact bytes. */
import net from 'node:net';
import { once } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';

const openClients = new Set<MqttClient>();
const openRaw = new Set<RawClient>();

/** Connects an MQTT.js client without automatic reconnects (tests decide when to reconnect). */
export async function connectClient(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  openClients.add(client);
  client.on('error', () => undefined);
  return client;
}

/** Connects with a collector attached before CONNACK, so messages sent right after it are kept. */
export async function connectCollecting(url: string, options: IClientOptions = {}): Promise<{ client: MqttClient; collector: MessageCollector }> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  openClients.add(client);
  client.on('error', () => undefined);
  const collector = new MessageCollector(client);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return { client, collector };
}

/** Ends every client the helpers opened (call in afterEach). */
export async function closeAllClients(): Promise<void> {
  await Promise.all([...openClients].map((c) => c.endAsync(true).catch(() => undefined)));
  openClients.clear();
  for (const raw of openRaw) raw.destroy();
  openRaw.clear();
}

export interface ReceivedMessage {
  topic: string;
  payload: string;
  packet: mqttPacket.IPublishPacket;
}

/** Collects messages on a client and lets a test await a count of them. */
export class MessageCollector {
  readonly messages: ReceivedMessage[] = [];
  private waiters: Array<{ count: number; resolve: () => void }> = [];

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload: payload.toString(), packet });
      this.waiters = this.waiters.filter((w) => {
        if (this.messages.length >= w.count) w.resolve();
        return this.messages.length < w.count;
      });
    });
  }

  waitFor(count: number, timeoutMs = 5000): Promise<ReceivedMessage[]> {
    if (this.messages.length >= count) return Promise.resolve(this.messages);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`expected ${count} messages, got ${this.messages.length}`)),
        timeoutMs,
      );
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.messages);
        },
      });
    });
  }
}

/** A client speaking raw MQTT packets, for protocol edge cases MQTT.js would never send. */
export class RawClient {
  readonly packets: Packet[] = [];
  private readonly parser: mqttPacket.Parser;
  private waiters: Array<{ match: (p: Packet) => boolean; resolve: (p: Packet) => void }> = [];
  private closed: Promise<void>;
  isClosed = false;

  private constructor(
    readonly socket: net.Socket,
    private readonly protocolVersion: 3 | 4 | 5,
  ) {
    // The parser must know the version to read MQTT 5 properties and reason codes.
    this.parser = mqttPacket.parser({ protocolVersion });
    this.parser.on('packet', (packet: Packet) => {
      const waiter = this.waiters.find((w) => w.match(packet));
      if (waiter) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(packet);
      } else this.packets.push(packet);
    });
    socket.on('data', (chunk) => this.parser.parse(chunk));
    socket.on('error', () => undefined);
    this.closed = once(socket, 'close').then(() => {
      this.isClosed = true;
    });
  }

  static async open(port: number, protocolVersion: 3 | 4 | 5 = 4): Promise<RawClient> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const client = new RawClient(socket, protocolVersion);
    openRaw.add(client);
    return client;
  }

  /** Opens a socket and completes CONNECT/CONNACK. */
  static async connect(port: number, connect: Partial<mqttPacket.IConnectPacket> = {}): Promise<RawClient> {
    const version = (connect.protocolVersion ?? 4) as 3 | 4 | 5;
    const client = await RawClient.open(port, version);
    client.send({
      cmd: 'connect',
      protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: version,
      clientId: 'raw-client',
      clean: true,
      keepalive: 0,
      ...connect,
    } as mqttPacket.IConnectPacket);
    const connack = (await client.next('connack')) as mqttPacket.IConnackPacket;
    const code = connack.returnCode ?? connack.reasonCode ?? 0;
    if (code !== 0) throw new Error(`CONNACK refused with ${code}`);
    return client;
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.protocolVersion }));
  }

  writeBytes(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  /** The next packet of the given type (already received or yet to come). */
  next(cmd: Packet['cmd'], timeoutMs = 5000): Promise<Packet> {
    const index = this.packets.findIndex((p) => p.cmd === cmd);
    if (index >= 0) return Promise.resolve(this.packets.splice(index, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        match: (p: Packet) => p.cmd === cmd,
        resolve: (p: Packet) => {
          clearTimeout(timer);
          resolve(p);
        },
      };
      const timer = setTimeout(() => {
        // A waiter that gave up must not swallow the packet when it comes later.
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no ${cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Resolves when the server closes the connection. */
  waitClosed(timeoutMs = 5000): Promise<void> {
    return Promise.race([
      this.closed,
      new Promise<void>((_, reject) => setTimeout(() => reject(new Error('connection still open')), timeoutMs).unref()),
    ]);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
