/**
 * A load-generator client on raw sockets: pre-encoded PUBLISH packets with the packet id patched
 * in place, batched writes, and a receive path (`FrameReader`) that counts and acks without
 * decoding. mqtt-packet encodes the handshake and decodes the few packets that are not PUBLISH or
 * acks (CONNACK, SUBACK, PINGRESP), where an object per packet costs nothing.
 */
import net from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import mqttPacket, { type IConnackPacket, type Packet } from 'mqtt-packet';
import { FrameReader, PacketType, skipProperties, type FrameHandler } from './frame-reader.js';

export interface LoadClientOptions {
  clientId: string;
  clean?: boolean;
  protocolVersion?: 4 | 5;
  keepalive?: number;
  /**
   * 5.0 only: seconds the session outlives the connection. Without it a 5.0 session ends at
   * disconnect whatever `clean` says [5.0 MQTT-3.1.2-23], so persistent-session scenarios set it.
   */
  sessionExpiryInterval?: number;
  /** Set before CONNECT goes out: deliveries may follow the CONNACK in the same read. */
  onPublish?: (bytes: Buffer, payloadOffset: number, payloadEnd: number) => void;
}

type ControlCmd = 'connack' | 'suback' | 'unsuback' | 'pingresp' | 'disconnect' | 'auth';

/**
 * Every LoadClient reads into this one buffer (net's `onread`): no Buffer and no stream event per
 * read, and no per-socket buffer for 10,000 idle clients. Safe because each read is handled to the
 * end before the next one lands; the frame reader copies the cut-off frame it keeps.
 */
const SHARED_READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const PINGREQ = Buffer.from([0xc0, 0x00]);
const DISCONNECT = Buffer.from([0xe0, 0x00]);
const noop = (): void => undefined;

/**
 * One mqtt-packet parser per protocol version, shared by every client, for the few packets the
 * frame reader passes on: each arrives as one whole frame, so the parser emits it before
 * `parse` returns; and scenario 6's 10,000 idle clients hold no parser each.
 */
const controlDecoders = new Map<4 | 5, { parser: mqttPacket.Parser; decoded: Packet | undefined; error: Error | undefined }>();

function decodeControl(frame: Buffer, version: 4 | 5): Packet {
  let decoder = controlDecoders.get(version);
  if (!decoder) {
    const created = { parser: mqttPacket.parser({ protocolVersion: version }), decoded: undefined as Packet | undefined, error: undefined as Error | undefined };
    created.parser.on('packet', (packet: Packet) => (created.decoded = packet));
    created.parser.on('error', (error: Error) => (created.error = error));
    controlDecoders.set(version, created);
    decoder = created;
  }
  decoder.decoded = undefined;
  decoder.error = undefined;
  decoder.parser.parse(frame);
  if (decoder.error || !decoder.decoded) throw decoder.error ?? new Error(`cannot decode packet type ${frame[0]! >> 4}`);
  return decoder.decoded;
}

export class LoadClient implements FrameHandler {
  /** PUBLISH packets received (each acked as its QoS asks). */
  received = 0;
  /** Called per PUBLISH received; the payload is `bytes[payloadOffset..payloadEnd)`, valid only now. */
  onPublish: (bytes: Buffer, payloadOffset: number, payloadEnd: number) => void = noop;
  /** PUBACK / PUBREC / PUBCOMP for our own publishes (`PacketType` values). */
  onAck: (type: number, packetId: number) => void = noop;
  /** After each read's frames are handled and before its acks are written: the moment to batch. */
  onReadEnd: () => void = noop;
  isClosed = false;
  /**
   * Write each acknowledgement on its own as it is read (TCP_NODELAY: one segment each), as a
   * simple client does, instead of one write per read: the shape that lets publishers outrun a
   * subscriber whose broker batches nothing for it.
   */
  acksEachAlone = false;
  /** Set by `handshake`: 5.0 brokers say their Receive Maximum here. */
  connack: IConnackPacket | undefined;
  readonly closed: Promise<void>;
  private readonly reader: FrameReader;
  private waiters: Array<{ cmd: ControlCmd; resolve: (p: Packet) => void; reject: (e: Error) => void }> = [];

  readonly socket: net.Socket;

  private constructor(
    port: number,
    readonly version: 4 | 5,
  ) {
    this.reader = new FrameReader(version, this);
    const socket = net.connect({ port, host: '127.0.0.1', onread: { buffer: SHARED_READ_BUFFER, callback: (n) => this.onRead(n) } });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('error', noop);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        for (const waiter of this.waiters.splice(0)) waiter.reject(new Error(`connection closed while waiting for ${waiter.cmd}`));
        resolve();
      }),
    );
  }

  /** A socket on its way to connecting; `handshake` sends CONNECT. Lets a caller track it first. */
  static open(port: number, version: 4 | 5 = 4): LoadClient {
    return new LoadClient(port, version);
  }

  static async connect(port: number, options: LoadClientOptions): Promise<{ client: LoadClient; connack: IConnackPacket }> {
    const client = LoadClient.open(port, options.protocolVersion ?? 4);
    try {
      return { client, connack: await client.handshake(options) };
    } catch (error) {
      client.destroy();
      throw error;
    }
  }

  async handshake(options: LoadClientOptions): Promise<IConnackPacket> {
    if (this.socket.connecting) await once(this.socket, 'connect');
    if (options.onPublish) this.onPublish = options.onPublish;
    const connackPromise = this.expect('connack');
    const isPersistent = options.clean === false;
    this.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: this.version,
      clientId: options.clientId,
      clean: options.clean ?? true,
      keepalive: options.keepalive ?? 60,
      ...(this.version === 5 && isPersistent ? { properties: { sessionExpiryInterval: options.sessionExpiryInterval ?? 3600 } } : {}),
    });
    const connack = (await connackPromise) as IConnackPacket;
    if ((connack.returnCode ?? connack.reasonCode ?? 0) !== 0) throw new Error(`CONNECT refused: ${JSON.stringify(connack)}`);
    this.connack = connack;
    return connack;
  }

  /** `onread` callback: true keeps the socket reading. */
  private onRead(length: number): boolean {
    let acks: Buffer | undefined;
    try {
      acks = this.reader.read(SHARED_READ_BUFFER.subarray(0, length));
    } catch (error) {
      this.socket.destroy(error as Error); // a malformed stream: the scenario sees the close
      return false;
    }
    if (!acks) {
      this.onReadEnd();
      return true;
    }
    if (this.acksEachAlone) {
      // The 4-byte acks (PUBACK, PUBREC, PUBREL, PUBCOMP), one write each.
      for (let at = 0; at + 4 <= acks.length; at += 4) this.socket.write(acks.subarray(at, at + 4));
      this.onReadEnd();
      return true;
    }
    // One write per read: the acks, and whatever onReadEnd sends (the next window of publishes).
    this.socket.cork();
    this.socket.write(acks);
    this.onReadEnd();
    this.socket.uncork();
    return true;
  }

  // FrameHandler: the reader calls these for each frame.
  publishReceived(bytes: Buffer, payloadOffset: number, payloadEnd: number): void {
    this.received++;
    this.onPublish(bytes, payloadOffset, payloadEnd);
  }

  ackReceived(type: number, packetId: number): void {
    this.onAck(type, packetId);
  }

  controlReceived(frame: Buffer): void {
    let packet: Packet;
    try {
      packet = decodeControl(frame, this.version);
    } catch (error) {
      this.socket.destroy(error as Error);
      return;
    }
    const at = this.waiters.findIndex((w) => w.cmd === packet.cmd);
    if (at >= 0) this.waiters.splice(at, 1)[0]!.resolve(packet);
  }

  /** Resolves with the next packet of that kind; rejects if the connection closes first. */
  expect(cmd: ControlCmd): Promise<Packet> {
    if (this.isClosed) return Promise.reject(new Error(`connection closed before ${cmd}`));
    return new Promise((resolve, reject) => this.waiters.push({ cmd, resolve, reject }));
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  async subscribe(filter: string, qos: 0 | 1 | 2): Promise<void> {
    const suback = this.expect('suback');
    this.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] });
    const granted = ((await suback) as mqttPacket.ISubackPacket).granted[0];
    if (typeof granted !== 'number' || granted >= 0x80) throw new Error(`SUBSCRIBE ${filter} refused: ${JSON.stringify(granted)}`);
  }

  /** PINGREQ → PINGRESP: every packet this client sent before has been handled by the broker. */
  async ping(): Promise<void> {
    const pong = this.expect('pingresp');
    this.socket.write(PINGREQ);
    await pong;
  }

  async disconnect(): Promise<void> {
    if (this.isClosed) return;
    this.socket.end(DISCONNECT);
    await this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * A PUBLISH encoded once. Copies get their packet id (and a timestamp, for latency) patched in
 * place; the template itself is never handed to a socket that might still hold it.
 */
export class PublishTemplate {
  readonly bytes: Buffer;
  /** Where the packet id sits (QoS 1/2). */
  readonly idOffset: number;
  readonly payloadOffset: number;

  constructor(
    topic: string,
    payload: Buffer,
    readonly qos: 0 | 1 | 2,
    options: { version?: 4 | 5; retain?: boolean } = {},
  ) {
    const version = options.version ?? 4;
    this.bytes = mqttPacket.generate(
      { cmd: 'publish', topic, payload, qos, retain: options.retain ?? false, dup: false, ...(qos > 0 ? { messageId: 1 } : {}) },
      { protocolVersion: version },
    );
    let offset = 1;
    while (this.bytes[offset]! & 0x80) offset++;
    offset++;
    this.idOffset = offset + 2 + Buffer.byteLength(topic);
    const afterId = this.idOffset + (qos > 0 ? 2 : 0);
    this.payloadOffset = version === 5 ? skipProperties(this.bytes, afterId) : afterId;
  }

  /** Returns a fresh buffer with the id set (the socket may still hold the previous one). */
  withPacketId(id: number): Buffer {
    return this.copies(1, id);
  }

  /**
   * `count` copies back to back in one fresh buffer; QoS 1/2 copies get ids from `firstId` on
   * (1…65535, wrapping).
   */
  copies(count: number, firstId = 1): Buffer {
    const size = this.bytes.length;
    const batch = Buffer.allocUnsafe(size * count);
    let id = firstId;
    for (let i = 0; i < count; i++) {
      this.bytes.copy(batch, i * size);
      if (this.qos > 0) batch.writeUInt16BE(id, i * size + this.idOffset);
      id = id >= 65535 ? 1 : id + 1;
    }
    return batch;
  }
}

const BLAST_BATCH = 100;

/**
 * Writes `count` copies of a QoS 0 PUBLISH in batches, waiting for 'drain' when the socket says
 * so, and stopping early at `stopAt` (performance.now()); returns how many it wrote.
 */
export async function blast(client: LoadClient, template: PublishTemplate, count: number, stopAt = Infinity): Promise<number> {
  const batch = template.copies(BLAST_BATCH);
  let sent = 0;
  while (sent < count && !client.isClosed && performance.now() < stopAt) {
    const n = Math.min(BLAST_BATCH, count - sent);
    sent += n;
    if (!client.socket.write(n === BLAST_BATCH ? batch : batch.subarray(0, template.bytes.length * n))) {
      await Promise.race([once(client.socket, 'drain'), client.closed]);
    }
  }
  if (client.isClosed) throw new Error('connection closed while publishing');
  return sent;
}

/**
 * `n` publishes, in one buffer, of the templates in turn starting at number `from` of the run,
 * with packet ids from `firstId` on (1…65535, wrapping). One template: its copies.
 */
function inTurn(templates: readonly PublishTemplate[], from: number, n: number, firstId: number): Buffer {
  if (templates.length === 1) return templates[0]!.copies(n, firstId);
  const packets: Buffer[] = [];
  let id = firstId;
  for (let i = 0; i < n; i++) {
    packets.push(templates[(from + i) % templates.length]!.withPacketId(id));
    id = id >= 65535 ? 1 : id + 1;
  }
  return packets.length === 1 ? packets[0]! : Buffer.concat(packets);
}

/**
 * Publishes `count` QoS 1/2 messages keeping `window` unacknowledged; resolves when all are acked
 * (PUBACK, or PUBCOMP after the reader's automatic PUBREL). Acks arriving in one read release one
 * batch of new publishes, written together with that read's acks. Several templates (scenario
 * 14's topics) are published in turn.
 */
export function publishWindowed(
  client: LoadClient,
  template: PublishTemplate | readonly PublishTemplate[],
  qos: 1 | 2,
  count: number,
  window: number,
  options: { isOnePerAck?: boolean } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const completing = qos === 1 ? PacketType.PUBACK : PacketType.PUBCOMP;
    const templates = template instanceof PublishTemplate ? [template] : template;
    let sent = 0;
    let acked = 0;
    let released = 0;
    let nextId = 1;
    const sendBatch = (n: number): void => {
      client.socket.write(inTurn(templates, sent, n, nextId));
      nextId = ((nextId - 1 + n) % 65535) + 1;
      sent += n;
    };
    client.onAck = (type) => {
      if (type !== completing) return;
      acked++;
      if (options.isOnePerAck) {
        // A new PUBLISH for every acknowledgement, written at once (a simple client's window).
        if (sent < count) sendBatch(1);
      } else if (sent + released < count) released++;
      if (acked === count) resolve();
    };
    client.onReadEnd = () => {
      if (released === 0) return;
      sendBatch(released);
      released = 0;
    };
    void client.closed.then(() => {
      if (acked < count) reject(new Error(`connection closed after ${acked} of ${count} acks`));
    });
    sendBatch(Math.min(window, count));
  });
}
