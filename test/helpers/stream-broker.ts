/**
 * A broker served below the socket: each client is one side of an in-memory duplex pair handed
 * to `broker.handle(stream, info)`, so handler tests need no port, no socket and no sleep. A
 * `StreamClient` writes packets with mqtt-packet and awaits the broker's, in order.
 */
import type { Duplex } from 'node:stream';
import mqttPacket, { type IConnectPacket, type Packet } from 'mqtt-packet';
import { Broker, type BrokerDependencies } from '../../src/broker/index.js';
import { resolveConfig, type ConfigInput } from '../../src/config/index.js';
import { createLogger } from '../../src/observability/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { duplexPair } from './memory-broker.js';

export class StreamClient {
  private readonly packets: Packet[] = [];
  private waiting: (() => void) | undefined;
  isClosed = false;

  constructor(
    private readonly stream: Duplex,
    readonly version: 3 | 4 | 5,
  ) {
    const parser = mqttPacket.parser({ protocolVersion: version });
    parser.on('packet', (packet: Packet) => {
      this.packets.push(packet);
      this.waiting?.();
    });
    stream.on('data', (chunk: Buffer) => parser.parse(chunk));
    stream.on('end', () => stream.end());
    stream.on('error', () => undefined);
    stream.on('close', () => {
      this.isClosed = true;
      this.waiting?.();
    });
  }

  send(packet: Packet): void {
    this.stream.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  /** Bytes as they are, for packets mqtt-packet refuses to generate. */
  sendRaw(bytes: Buffer): void {
    this.stream.write(bytes);
  }

  /** The broker's next packet (of `cmd`, when given: it must be the next one); undefined if it closed first. */
  async next<C extends Packet['cmd']>(cmd?: C): Promise<Extract<Packet, { cmd: C }> | undefined> {
    while (this.packets.length === 0 && !this.isClosed) await new Promise<void>((resolve) => (this.waiting = resolve));
    this.waiting = undefined;
    const packet = this.packets.shift();
    if (packet && cmd && packet.cmd !== cmd) throw new Error(`expected ${cmd}, got ${packet.cmd}: ${JSON.stringify(packet)}`);
    return packet as Extract<Packet, { cmd: C }> | undefined;
  }

  /** Resolves once the broker closed the stream (after whatever it sent first). */
  async closed(): Promise<void> {
    while (!this.isClosed) await new Promise<void>((resolve) => (this.waiting = resolve));
  }

  /** What arrived and was not read yet. */
  get unread(): readonly Packet[] {
    return this.packets;
  }

  end(): void {
    this.stream.end();
  }
}

export interface StreamBroker {
  broker: Broker;
  /** A new client stream; nothing sent yet. */
  open(version?: 3 | 4 | 5, info?: { certificateIdentity?: string }): StreamClient;
  /** Opens, sends CONNECT (clean, no keep-alive unless given) and reads the CONNACK. */
  connect(clientId: string, version?: 3 | 4 | 5, connect?: Partial<IConnectPacket>): Promise<{ client: StreamClient; connack: Extract<Packet, { cmd: 'connack' }> }>;
  close(): Promise<void>;
}

/** A running memory-store broker with no listener at all: clients come through `handle`. */
export async function startStreamBroker(config: ConfigInput = {}, deps: Partial<BrokerDependencies> = {}): Promise<StreamBroker> {
  const broker = new Broker({
    config: resolveConfig({ http: { enabled: false }, sys: { interval: 0 }, ...config }),
    store: new MemoryStore(),
    logger: createLogger(process.env.MIDGE_TEST_LOG ?? 'silent'),
    listeners: [],
    ...deps,
  });
  await broker.listen();
  let port = 40000;
  const open = (version: 3 | 4 | 5 = 5, info: { certificateIdentity?: string } = {}): StreamClient => {
    const [client, server] = duplexPair();
    broker.handle(server, { remoteAddress: `127.0.0.1:${port++}`, ...info });
    return new StreamClient(client, version);
  };
  return {
    broker,
    open,
    async connect(clientId, version = 5, connect = {}) {
      const client = open(version);
      client.send({
        cmd: 'connect',
        protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
        protocolVersion: version,
        clientId,
        clean: true,
        keepalive: 0,
        ...connect,
      } as IConnectPacket);
      const connack = await client.next('connack');
      if (!connack) throw new Error('closed before CONNACK');
      return { client, connack };
    },
    close: () => broker.close(),
  };
}
