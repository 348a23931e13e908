/**
 * A broker fed through in-memory streams instead of sockets, on an injected clock: the timer
 * rules' tests advance a ManualClock and read the broker's replies, with no port and no sleep.
 */
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { ManualClock, MemoryStore, resolveConfig, type ConfigInput } from '../../src/index.js';
import { Broker, type ConnectionInfo, type Listener } from '../../src/broker/index.js';
import { createLogger } from '../../src/observability/index.js';

/** Two connected in-memory streams: what one writes the other reads; destroying one closes both. */
export function duplexPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const side = (peer: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        peer().push(chunk);
        callback();
      },
      final(callback) {
        peer().push(null);
        callback();
      },
    });
  sides.push(side(() => sides[1]!), side(() => sides[0]!));
  sides[0]!.once('close', () => sides[1]!.destroy());
  sides[1]!.once('close', () => sides[0]!.destroy());
  return [sides[0]!, sides[1]!];
}

/** A Listener that accepts what the test hands it. */
class MemoryListener implements Listener {
  readonly description = 'memory';
  private accept: ((stream: Duplex, info: ConnectionInfo) => void) | undefined;

  async start(accept: (stream: Duplex, info: ConnectionInfo) => void) {
    this.accept = accept;
    return { address: 'memory', family: 'memory', port: 0 };
  }

  async close(): Promise<void> {
    this.accept = undefined;
  }

  open(): Duplex {
    const [client, server] = duplexPair();
    if (!this.accept) throw new Error('the memory listener is not started');
    this.accept(server, { remoteAddress: '127.0.0.1:1' });
    return client;
  }
}

/** One client over an in-memory stream: sends packets, awaits the broker's. */
export class MemoryClient {
  readonly received: Packet[] = [];
  isClosed = false;
  private readonly parser: mqttPacket.Parser;
  private waiter: (() => void) | undefined;
  private readonly closed: Promise<void>;

  constructor(
    readonly stream: Duplex,
    readonly version: 3 | 4 | 5,
  ) {
    this.parser = mqttPacket.parser({ protocolVersion: version });
    this.parser.on('packet', (packet: Packet) => {
      this.received.push(packet);
      this.waiter?.();
    });
    stream.on('data', (chunk: Buffer) => this.parser.parse(chunk));
    stream.on('end', () => stream.end());
    stream.on('error', () => undefined);
    this.closed = once(stream, 'close').then(() => {
      this.isClosed = true;
      this.waiter?.();
    });
  }

  send(packet: Packet): void {
    this.stream.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  /** The next packet of this kind the broker sent (taken from what was received). */
  async next(cmd: Packet['cmd']): Promise<Packet> {
    for (;;) {
      const index = this.received.findIndex((p) => p.cmd === cmd);
      if (index >= 0) return this.received.splice(index, 1)[0]!;
      if (this.isClosed) throw new Error(`closed before a ${cmd} arrived`);
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** Connects and awaits CONNACK. */
  async connect(fields: Partial<mqttPacket.IConnectPacket> = {}): Promise<mqttPacket.IConnackPacket> {
    this.send({
      cmd: 'connect',
      protocolId: this.version === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: this.version,
      clientId: 'c',
      clean: true,
      keepalive: 0,
      ...fields,
    } as Packet);
    return (await this.next('connack')) as mqttPacket.IConnackPacket;
  }

  waitClosed(): Promise<void> {
    return this.closed;
  }

  destroy(): void {
    this.stream.destroy();
  }
}

export interface MemoryBroker {
  broker: Broker;
  clock: ManualClock;
  open(version: 3 | 4 | 5): MemoryClient;
  close(): Promise<void>;
}

/** A memory-store broker on a ManualClock (starting at a plausible epoch) with one in-memory listener. */
export async function startMemoryBroker(input: ConfigInput = {}): Promise<MemoryBroker> {
  const clock = new ManualClock(1_700_000_000_000);
  const listener = new MemoryListener();
  const broker = new Broker({
    config: resolveConfig({ store: { type: 'memory' }, http: { enabled: false }, sys: { interval: 0 }, ...input }),
    store: new MemoryStore(),
    logger: createLogger(process.env.MIDGE_TEST_LOG ?? 'silent'),
    listeners: [listener],
    clock,
  });
  await broker.listen();
  return {
    broker,
    clock,
    open: (version) => new MemoryClient(listener.open(), version),
    close: () => broker.close(),
  };
}
