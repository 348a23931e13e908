/**
 * A load-generator client on raw sockets: pre-encoded PUBLISH packets with the packet id patched
 * in place, batched writes, and a receive path that only counts (and acks what must be acked).
 */
import net from 'node:net';
import { once } from 'node:events';
import mqttPacket, { type IConnackPacket, type Packet } from 'mqtt-packet';

export interface LoadClientOptions {
  clientId: string;
  clean?: boolean;
  protocolVersion?: 4 | 5;
  keepalive?: number;
  /** Set before CONNECT goes out: deliveries may follow the CONNACK in the same read. */
  onPublish?: (packet: mqttPacket.IPublishPacket) => void;
}

export class LoadClient {
  private readonly parser: mqttPacket.Parser;
  private readonly version: 4 | 5;
  /** Called for each PUBLISH received (after it has been acked). */
  onPublish: (packet: mqttPacket.IPublishPacket) => void = () => undefined;
  onAck: (packet: Packet) => void = () => undefined;
  private pending: Array<{ cmd: string; resolve: (p: Packet) => void }> = [];

  private constructor(
    readonly socket: net.Socket,
    version: 4 | 5,
  ) {
    this.version = version;
    this.parser = mqttPacket.parser({ protocolVersion: version });
    socket.setNoDelay(true);
    this.parser.on('packet', (packet: Packet) => this.dispatch(packet));
    socket.on('data', (chunk) => this.parser.parse(chunk));
    socket.on('error', () => undefined);
  }

  static async connect(port: number, options: LoadClientOptions): Promise<{ client: LoadClient; connack: IConnackPacket }> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const version = options.protocolVersion ?? 4;
    const client = new LoadClient(socket, version);
    if (options.onPublish) client.onPublish = options.onPublish;
    const connackPromise = client.expect('connack');
    client.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: version,
      clientId: options.clientId,
      clean: options.clean ?? true,
      keepalive: options.keepalive ?? 60,
    });
    const connack = (await connackPromise) as IConnackPacket;
    if ((connack.returnCode ?? connack.reasonCode ?? 0) !== 0) throw new Error(`refused: ${JSON.stringify(connack)}`);
    return { client, connack };
  }

  private dispatch(packet: Packet): void {
    if (packet.cmd === 'publish') {
      if (packet.qos === 1) this.send({ cmd: 'puback', messageId: packet.messageId! });
      else if (packet.qos === 2) this.send({ cmd: 'pubrec', messageId: packet.messageId! });
      this.onPublish(packet);
      return;
    }
    if (packet.cmd === 'pubrel') {
      this.send({ cmd: 'pubcomp', messageId: packet.messageId! });
      return;
    }
    const waiter = this.pending.findIndex((p) => p.cmd === packet.cmd);
    if (waiter >= 0) {
      const [w] = this.pending.splice(waiter, 1);
      w!.resolve(packet);
      return;
    }
    this.onAck(packet);
  }

  expect(cmd: string): Promise<Packet> {
    return new Promise((resolve) => this.pending.push({ cmd, resolve }));
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  async subscribe(filter: string, qos: 0 | 1 | 2): Promise<void> {
    const suback = this.expect('suback');
    this.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] });
    await suback;
  }

  async disconnect(): Promise<void> {
    this.send({ cmd: 'disconnect' });
    this.socket.end();
    await once(this.socket, 'close');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A PUBLISH encoded once; `withPacketId` patches the id bytes of a copy-free buffer in place. */
export class PublishTemplate {
  readonly bytes: Buffer;
  private readonly idOffset: number;

  constructor(topic: string, payload: Buffer, qos: 0 | 1 | 2, version: 4 | 5 = 4) {
    this.bytes = mqttPacket.generate(
      { cmd: 'publish', topic, payload, qos, retain: false, dup: false, ...(qos > 0 ? { messageId: 1 } : {}) },
      { protocolVersion: version },
    );
    let offset = 1;
    while (this.bytes[offset]! & 0x80) offset++;
    offset++;
    this.idOffset = offset + 2 + Buffer.byteLength(topic);
  }

  /** Returns a fresh buffer with the id set (the socket may still hold the previous one). */
  withPacketId(id: number): Buffer {
    const copy = Buffer.allocUnsafe(this.bytes.length);
    this.bytes.copy(copy);
    copy.writeUInt16BE(id, this.idOffset);
    return copy;
  }
}

/** Publishes `count` QoS 1/2 messages keeping `window` unacknowledged; resolves when all are acked. */
export function publishWindowed(client: LoadClient, template: PublishTemplate, qos: 1 | 2, count: number, window: number): Promise<void> {
  return new Promise((resolve) => {
    let sent = 0;
    let acked = 0;
    let nextId = 1;
    const sendOne = (): void => {
      const id = nextId;
      nextId = nextId >= 65535 ? 1 : nextId + 1;
      sent++;
      client.socket.write(template.withPacketId(id));
    };
    client.onAck = (packet) => {
      if (packet.cmd === 'pubrec') {
        client.send({ cmd: 'pubrel', messageId: packet.messageId! });
        return;
      }
      if ((qos === 1 && packet.cmd === 'puback') || (qos === 2 && packet.cmd === 'pubcomp')) {
        acked++;
        if (acked === count) resolve();
        else if (sent < count) sendOne();
      }
    };
    client.socket.cork();
    for (let i = 0; i < Math.min(window, count); i++) sendOne();
    client.socket.uncork();
  });
}
