/**
 * One client connection: a framer and the broker's decoder in, its encoder and corked writes out, and one handler
 * per packet type. It holds the client's session while connected (as the session's `SessionLink`). Handlers
 * see it as a `ClientConnection`, and it sees the broker as the `BrokerContext` (context.ts).
 * Over ~350 lines: reading (framing, backlog, throttling) and writing (corking, closing) share the
 * state of one socket; the codec choice is behind the broker's decoder and encoder.
 */
import type { Duplex } from 'node:stream';
import {
  FrameReader,
  type FrameError,
  type FrameSink,
  MqttError,
  OutgoingTopicAliases,
  ReasonCode,
  type Packet,
  type ProtocolVersion,
} from '../protocol/index.js';
import type { EnhancedAuthExchange } from '../auth/index.js';
import type { Cancel } from '../clock/index.js';
import type { Session, SessionLink } from '../session/index.js';
import type { OutgoingRecord } from '../store/index.js';
import type { BrokerContext, ClientConnection, CloseReason, ConnectionState } from './context.js';
import type { ConnectionInfo } from './types.js';
import { dispatchPacket } from './handlers/index.js';
import { authorize } from './authorize.js';
import { ConnectDeadline, type KeepAliveMonitor } from './keepalive.js';
import { TokenBucket } from './rate-limit.js';
import { connackRefused, CONNACK_UNSUPPORTED_PROTOCOL, serverDisconnect } from './replies.js';

export type { CloseReason, ConnectionState } from './context.js';

/** How long a closing peer that does not read gets before its socket is destroyed. */
const FORCE_CLOSE_AFTER_MS = 2000;

/** CONNECT's fixed-header byte: type 1, flags 0 (spec 2.2.2). */
const CONNECT_FIRST_BYTE = 0x10;

export class Connection implements ClientConnection, SessionLink, FrameSink {
  state: ConnectionState = 'awaiting-connect';
  readonly remoteAddress: string;
  protocolVersion: ProtocolVersion = 4;
  clientId = '';
  username: string | undefined;
  session: Session | undefined;
  keepAlive: KeepAliveMonitor | undefined;
  /** Set by DISCONNECT (reason 0x00): the will is not published [3.1.1 MQTT-3.14.4-3] [5.0 MQTT-3.14.4-3]. */
  isDisconnectClean = false;
  /** Set when another connection took the session over. */
  isTakenOver = false;
  closeReason: CloseReason | undefined;
  /** Epoch ms of the CONNACK (admin API). */
  connectedAt: number | undefined;
  /** MQTT 5: whether the client wants reason strings and user properties on errors. */
  wantsProblemInformation = true;
  /** MQTT 5: largest packet the client accepts. */
  clientMaximumPacketSize = Infinity;
  /** MQTT 5 enhanced authentication: the method agreed in CONNECT, and the exchange under way. */
  authMethod: string | undefined;
  authExchange: EnhancedAuthExchange | undefined;
  /** Finishes CONNECT once a CONNECT-time AUTH exchange succeeds. */
  onAuthSuccess: ((finalData: Buffer | undefined) => Promise<void>) | undefined;
  /** QoS 1 PUBLISHes received whose PUBACK waits for a commit (flow control). */
  unackedIncoming = 0;
  /**
   * MQTT 5 topic aliases for what we send, when the client announced a Topic Alias Maximum > 0
   * (and they are not configured off); this connection's only [5.0 MQTT-3.3.2-7].
   */
  outgoingAliases: OutgoingTopicAliases | undefined;
  /** MQTT 5 incoming topic aliases: alias → topic (made on first use: most clients never use one). */
  get topicAliases(): Map<number, string> {
    return (this.incomingAliases ??= new Map());
  }

  private incomingAliases: Map<number, string> | undefined;
  /** Publish rate limits (messages, payload bytes), when configured. */
  private readonly publishBucket: TokenBucket | undefined;
  private readonly publishBytesBucket: TokenBucket | undefined;
  private cancelResume: Cancel | undefined;
  /** Authorization answers the held packets wait for (continueAfter). */
  private authorizationWaits = 0;
  /** Deliveries held, in order, while one waits for its receive authorization. */
  private heldSends: Array<{ record: OutgoingRecord; isDuplicate: boolean }> | undefined;
  /** Packets read while the client is over its publish rate, handled when it is paid off. */
  private throttled: Packet[] | undefined;
  /** Packets that arrived while CONNECT was still being processed. */
  private backlog: Packet[] | undefined;
  private readonly frames: FrameReader;
  private isCorked = false;
  private hasReadFirstByte = false;
  /** A CONNECT-time AUTH exchange reads the client's AUTH packets while CONNECT is pending. */
  private isReadingAuthExchange = false;
  private connectDeadline: ConnectDeadline | undefined;

  constructor(
    readonly broker: BrokerContext,
    private readonly stream: Duplex,
    readonly info: ConnectionInfo,
  ) {
    this.remoteAddress = info.remoteAddress;
    const limits = broker.config.limits;
    // One second of burst: a sensor that wakes up and flushes a little backlog is not punished.
    if (limits.maxPublishRate > 0) this.publishBucket = new TokenBucket(limits.maxPublishRate, limits.maxPublishRate, broker.now);
    if (limits.maxPublishBytesRate > 0) this.publishBytesBucket = new TokenBucket(limits.maxPublishBytesRate, limits.maxPublishBytesRate, broker.now);
    // Until CONNECT is accepted only a small packet is read: a peer that has not authenticated
    // cannot make the broker hold more than this for it.
    this.frames = new FrameReader(Math.min(limits.maxConnectPacketSize, limits.maxPacketSize), this);
    (stream as OwnedStream)[CONNECTION] = this;
    stream.on('data', onDataOf);
    stream.on('drain', onDrainOf);
    stream.on('error', onErrorOf);
    stream.on('close', onCloseOf);
    // The client half-closed: finish our side too; 'close' then cleans up. A stream that is not
    // half-open (TCP and TLS sockets here) does that by itself, without a listener per connection.
    if (stream.allowHalfOpen) stream.on('end', endStream);
    this.connectDeadline = new ConnectDeadline(limits.connectTimeoutMs, broker.keepAlives, this);
  }

  onConnectTimeout(): void {
    this.connectDeadline = undefined;
    if (this.state === 'awaiting-connect') this.destroy('connect-timeout');
  }

  onKeepAliveExpired(): void {
    this.broker.logger.info({ clientId: this.clientId }, 'keep-alive timeout; closing the connection');
    this.disconnectWithReason(ReasonCode.KeepAliveTimeout);
    this.destroy('keepalive-timeout');
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  get isWritable(): boolean {
    return !this.isClosed && this.stream.writableLength < this.broker.config.limits.socketBufferBytes;
  }

  // --- reading -------------------------------------------------------------------------------

  /** The socket's 'data' (through `onDataOf`). */
  onData(chunk: Buffer): void {
    if (this.isClosed) return;
    this.broker.stats.bytesReceived += chunk.length;
    this.keepAlive?.touch();
    if (this.state === 'awaiting-connect' && !this.hasReadFirstByte && chunk.length > 0) {
      this.hasReadFirstByte = true;
      if (chunk[0] !== CONNECT_FIRST_BYTE) {
        // The first packet must be CONNECT [3.1.1 MQTT-3.1.0-1] [5.0 MQTT-3.1.0-1]: decided from
        // its first byte, before anything of its body is read or held.
        this.broker.stats.protocolViolations++;
        this.broker.logger.info({ remoteAddress: this.remoteAddress, firstByte: chunk[0] }, 'first packet is not CONNECT; closing');
        this.destroy('protocol-error');
        this.stream.destroy();
        return;
      }
    }
    // More bytes while CONNECT is being processed: reading pauses (see holdPackets).
    if (this.backlog && !this.isReadingAuthExchange && this.state === 'connecting') this.stream.pause();
    this.cork();
    this.frames.push(chunk);
  }

  /** A whole packet, through the broker's decoder (which picks the hand fast path or mqtt-packet). */
  onFrame(frame: Buffer): void {
    if (this.isClosed) return;
    if (this.state === 'awaiting-connect') {
      // The CONNECT says which version its own rules (and our answer) follow.
      const level = this.broker.decoder.connectVersion(frame);
      if (level !== undefined) this.protocolVersion = level;
    }
    // The fast path only when nothing is held back, so packets are still handled in order.
    const decoded = this.broker.decoder.decode(frame, this.protocolVersion, this.state === 'connected' && !this.throttled && !this.backlog);
    if (decoded instanceof MqttError) this.onDecodeError(decoded);
    else this.onPacket(decoded);
  }

  onFrameError(error: FrameError): void {
    if (this.isClosed) return;
    const isBeforeConnect = this.state === 'awaiting-connect';
    if (error.kind === 'too-large') {
      this.protocolFailure(new MqttError(ReasonCode.PacketTooLarge, `packet of ${error.size} bytes exceeds the maximum`));
    } else {
      this.protocolFailure(new MqttError(ReasonCode.MalformedPacket, 'malformed Remaining Length'));
    }
    // Nothing was sent to a peer that has not connected: stop reading its bytes at once rather
    // than receiving (and discarding) the rest of what it announced.
    if (isBeforeConnect) this.stream.destroy();
  }

  private onPacket(packet: Packet): void {
    if (this.isClosed) return;
    if (this.throttled) {
      this.throttled.push(packet);
      return;
    }
    // During the CONNECT-time AUTH exchange the client's AUTH packets are the conversation itself.
    if (this.backlog && !(packet.cmd === 'auth' && this.state === 'connecting')) {
      this.backlog.push(packet);
      return;
    }
    this.handle(packet);
  }

  /** No closure per packet here (run's): this is called for every packet a client sends. */
  private handle(packet: Packet): void {
    try {
      dispatchPacket(this, packet);
    } catch (error) {
      this.onHandlerError(error);
    }
  }

  /** Runs a handler's continuation (after an authorization answer), as `handle` runs a handler. */
  private run(handler: () => void): void {
    try {
      handler();
    } catch (error) {
      this.onHandlerError(error);
    }
  }

  /** A protocol error closes as the spec says, any other as internal. */
  private onHandlerError(error: unknown): void {
    if (error instanceof MqttError) this.protocolFailure(error);
    else {
      this.broker.logger.error({ err: error, clientId: this.clientId }, 'handler failed; closing the connection');
      this.destroy('internal-error');
    }
  }

  private onDecodeError(error: MqttError): void {
    if (this.state === 'awaiting-connect' && error.reasonCode === ReasonCode.UnsupportedProtocolVersion) {
      // [3.1.1 MQTT-3.1.2-2] an unknown protocol level: CONNACK 0x01, then close.
      this.broker.logger.info({ remoteAddress: this.remoteAddress }, 'unsupported protocol version; closing');
      this.writeRaw(CONNACK_UNSUPPORTED_PROTOCOL);
      this.destroy('connect-refused');
      return;
    }
    this.protocolFailure(error);
  }

  /**
   * Counts one PUBLISH against the client's rate limits; over them, reading from its socket
   * pauses until the debt is paid (TCP back-pressure slows the client, nothing is dropped).
   */
  throttlePublish(payloadBytes: number): void {
    if (!this.publishBucket && !this.publishBytesBucket) return;
    const wait = Math.max(this.publishBucket?.take(1) ?? 0, this.publishBytesBucket?.take(payloadBytes) ?? 0);
    if (wait <= 0 || this.throttled) return;
    this.broker.stats.publishThrottled++;
    // Packets already read in this chunk wait too; the paused socket bounds how many there are.
    this.throttled = [];
    this.stream.pause();
    this.cancelResume = this.broker.clock.after(wait, () => this.endThrottle());
  }

  /**
   * Lets every other connection have its turn before this one's next packet is handled. A
   * publisher whose messages every matching session refuses at its queue bound would otherwise
   * take the CPU those sessions' consumers need to drain: measured, a subscriber at a bound of
   * 1,000 got 7.6k msg/s while its 10 publishers were acknowledged at 61k/s.
   */
  yieldTurn(): void {
    if (this.throttled) return;
    this.throttled = [];
    this.stream.pause();
    setImmediate(endThrottleOf, this);
  }

  /**
   * The packet in hand waits for an authorization answer still to come (an HTTP service's, not
   * cached): reading pauses and every later packet is held until `then` has run, so packets are
   * still handled in order. The cached case never comes here (no await in the hot path).
   */
  continueAfter<T>(pending: Promise<T>, then: (value: T) => void): void {
    this.authorizationWaits++;
    if (!this.throttled) {
      this.throttled = [];
      this.stream.pause();
    }
    const resume = (): void => {
      this.authorizationWaits--;
      // A publish-rate pause still running ends on its own timer.
      if (this.authorizationWaits === 0 && this.cancelResume === undefined) this.endThrottle();
    };
    pending.then(
      (value) => {
        if (!this.isClosed) this.run(() => then(value));
        resume();
      },
      (error: unknown) => {
        this.broker.logger.error({ err: error, clientId: this.clientId }, 'authorization failed; closing the connection');
        this.destroy('internal-error');
        resume();
      },
    );
  }

  /** Handles what was held back while throttled, yielding or awaiting an authorization (public for `endThrottleOf` only). */
  endThrottle(): void {
    this.cancelResume = undefined;
    if (this.authorizationWaits > 0) return; // continueAfter's answer releases them
    const held = this.throttled ?? [];
    this.throttled = undefined;
    for (let i = 0; i < held.length; i++) {
      if (this.isClosed) return;
      if (this.throttled) {
        // Over the limit again: the rest waits for the next round.
        (this.throttled as Packet[]).push(...held.slice(i));
        return;
      }
      this.handle(held[i]!);
    }
    if (!this.throttled && !this.isClosed) this.stream.resume();
  }

  /** The client's IP address, without the port. */
  get remoteHost(): string {
    const colon = this.remoteAddress.lastIndexOf(':');
    return colon > 0 ? this.remoteAddress.slice(0, colon) : this.remoteAddress;
  }

  /** The first held delivery's answer came: it goes (or not), the rest are checked again in order. */
  private releaseSends(isFirstAllowed: boolean): void {
    const held = this.heldSends ?? [];
    this.heldSends = undefined;
    for (let i = 0; i < held.length; i++) {
      if (this.isClosed) return;
      if (this.heldSends) {
        // Another answer to wait for: the rest stay behind it.
        (this.heldSends as Array<{ record: OutgoingRecord; isDuplicate: boolean }>).push(...held.slice(i));
        return;
      }
      const { record, isDuplicate } = held[i]!;
      this.sendPublish(record, isDuplicate, i === 0 ? isFirstAllowed : undefined);
    }
  }

  // --- session handling ---------------------------------------------------------------------

  /**
   * Queues packets that arrive while an asynchronous CONNECT is being processed. Reading pauses
   * as soon as more bytes arrive meanwhile, so what is held is at most the rest of the chunk the
   * CONNECT came in and the one chunk that paused it; that may already be a full-sized packet
   * (clients may send before CONNACK). Paused on arrival rather than at once: most clients send
   * nothing before their CONNACK, and a pause and resume per CONNECT was ~3% of a connection
   * storm's CPU.
   */
  holdPackets(): void {
    this.backlog ??= [];
    this.connectDeadline?.stop();
    this.connectDeadline = undefined;
    this.frames.setMaxPacketSize(this.broker.config.limits.maxPacketSize);
  }

  /**
   * A CONNECT-time AUTH exchange needs the client's AUTH packets while CONNECT is pending: reading
   * resumes, bounded again to the pre-CONNECT packet size.
   */
  readDuringAuthExchange(): void {
    this.isReadingAuthExchange = true;
    const limits = this.broker.config.limits;
    this.frames.setMaxPacketSize(Math.min(limits.maxConnectPacketSize, limits.maxPacketSize));
    this.stream.resume();
  }

  /** Handles the packets held back during CONNECT, in order. */
  releasePackets(): void {
    const backlog = this.backlog;
    this.backlog = undefined;
    this.isReadingAuthExchange = false;
    this.frames.setMaxPacketSize(this.broker.config.limits.maxPacketSize);
    if (backlog) {
      this.cork();
      for (const packet of backlog) {
        if (this.isClosed) return;
        this.handle(packet);
      }
    }
    if (!this.isClosed && !this.throttled && this.stream.isPaused()) this.stream.resume();
  }

  // --- writing ------------------------------------------------------------------------------

  send(packet: Packet): void {
    if (this.isClosed) return;
    const bytes = this.broker.encoder.encodeReply(packet, this.protocolVersion, this.clientMaximumPacketSize);
    if (bytes.length > this.clientMaximumPacketSize) {
      // Too large even without reason string and user properties: not sent [5.0 MQTT-3.1.2-24]. A
      // client that cannot take even a CONNACK cannot be served at all, so its connection ends.
      this.broker.logger.info({ clientId: this.clientId || undefined, cmd: packet.cmd, size: bytes.length }, "packet exceeds the client's Maximum Packet Size; not sent");
      if (packet.cmd === 'connack') this.destroy('connect-refused');
      return;
    }
    this.writeRaw(bytes);
  }

  /**
   * One delivery, if the client may read it now. The rare cases (an answer still to come, a
   * refusal, a packet too large) are functions of their own: this one runs for every delivery and
   * stays small enough for V8 to inline into the session's send path.
   */
  sendPublish(record: OutgoingRecord, isDuplicate: boolean, isAllowed?: boolean): void {
    if (this.isClosed) return;
    const message = record.message;
    if (isAllowed === undefined) {
      const authorizer = this.broker.authorizer;
      // Without a receive check (allow-all, a plain password file) nothing is asked, nothing allocated.
      if (this.heldSends || authorizer.authorize || authorizer.canReceive) {
        if (!this.askBeforeSending(record, isDuplicate)) return;
      }
    } else if (!isAllowed) {
      return this.refuseAtSend(record);
    }
    const aliases = this.outgoingAliases;
    const alias = aliases ? aliases.lookup(message.topic) : 0;
    const bytes = this.broker.encoder.encodeDelivery(record, isDuplicate, this.protocolVersion, alias);
    if (bytes.length > this.clientMaximumPacketSize) return this.refuseTooLarge(record);
    // The alias is the client's to know only once a PUBLISH defining it has been written.
    if (alias < 0) aliases!.assign(message.topic, -alias);
    this.broker.stats.messagesSent++;
    this.broker.stats.messagesSentByQos[record.qos]++;
    this.writeRaw(bytes);
  }

  /**
   * The receive check for one delivery: true when it may go now; false when it waits (behind
   * earlier held ones, or for an answer still to come) or was refused.
   */
  private askBeforeSending(record: OutgoingRecord, isDuplicate: boolean): boolean {
    if (this.heldSends) {
      this.heldSends.push({ record, isDuplicate });
      return false;
    }
    const decision = authorize(this.broker.authorizer, { clientId: this.clientId, username: this.username }, 'receive', record.message.topic);
    if (typeof decision !== 'boolean') {
      // Not cached: this delivery and the ones after it wait for the answer, in order.
      this.heldSends = [{ record, isDuplicate }];
      void decision.then((allowed) => this.releaseSends(allowed));
      return false;
    }
    if (!decision) this.refuseAtSend(record);
    return decision;
  }

  /**
   * The ACL applies to every delivery as it is sent, not only when it was queued: after a reload
   * that removed read access, what was queued before is not delivered. A QoS 1/2 delivery ends as
   * if acknowledged, so its window slot is not held.
   */
  private refuseAtSend(record: OutgoingRecord): void {
    this.broker.logger.debug({ clientId: this.clientId }, 'delivery refused by the ACL at send time');
    if (record.packetId !== undefined) queueMicrotask(() => this.session?.abandon(record.packetId!));
  }

  /**
   * [5.0 MQTT-3.1.2-25] a packet larger than the client accepts is not sent; for QoS 1/2 the
   * delivery ends as if acknowledged, so the window slot is not held forever.
   */
  private refuseTooLarge(record: OutgoingRecord): void {
    if (record.packetId === undefined) this.broker.stats.dropped['too-large']++;
    else queueMicrotask(() => this.session?.abandon(record.packetId!));
  }

  sendPubrel(packetId: number): void {
    this.send({ cmd: 'pubrel', messageId: packetId });
  }

  private writeRaw(bytes: Buffer): void {
    this.cork();
    this.broker.stats.bytesSent += bytes.length;
    this.stream.write(bytes);
  }

  /** Writes are corked until the end of this tick, so a burst becomes one syscall. */
  private cork(): void {
    if (this.isCorked || this.isClosed) return;
    this.isCorked = true;
    this.stream.cork();
    process.nextTick(uncorkOf, this);
  }

  /** Ends this tick's cork (public for `uncorkOf` only). */
  uncork(): void {
    this.isCorked = false;
    this.stream.uncork();
  }

  /** The socket's 'drain' (through `onDrainOf`). */
  onDrain(): void {
    this.session?.resume();
  }

  // --- closing ------------------------------------------------------------------------------

  /**
   * Ends the connection for a protocol violation: MQTT 5 clients get a DISCONNECT with the reason
   * code first [5.0 MQTT-4.13.1-1]; 3.1.1 clients are simply disconnected [3.1.1 MQTT-4.8.0-1]. Logged once.
   */
  protocolFailure(error: MqttError): void {
    if (this.isClosed) return;
    this.broker.stats.protocolViolations++;
    this.broker.logger.info(
      { clientId: this.clientId || undefined, remoteAddress: this.remoteAddress, reasonCode: error.reasonCode },
      `closing connection: ${error.message}`,
    );
    if (this.state !== 'connected' && this.protocolVersion === 5 && error.reasonCode >= 0x80) {
      // Before CONNACK, MQTT 5 reports the failure in a CONNACK [5.0 MQTT-4.13.1-1].
      this.send(connackRefused(5, error.reasonCode));
    } else {
      this.disconnectWithReason(error.reasonCode, error.message);
    }
    this.destroy('protocol-error');
  }

  /** MQTT 5 only: tells the client why before the server closes the connection. */
  disconnectWithReason(reasonCode: number, reasonString?: string): void {
    const packet = serverDisconnect(this, reasonCode, reasonString);
    if (packet) this.send(packet);
  }

  /** Closes the socket after flushing what was written; the first reason given is the one kept. */
  destroy(reason: CloseReason): void {
    if (this.isClosed) return;
    this.closeReason = reason;
    this.state = 'closed';
    this.backlog = undefined;
    this.throttled = undefined;
    this.connectDeadline?.stop();
    this.cancelResume?.();
    this.keepAlive?.stop();
    if (this.isCorked) this.uncork();
    // A socket that closed (the peer went away: most closes in a storm) has nothing to flush:
    // end() on it would only build an ERR_STREAM_DESTROYED, and a force-close timer never cancelled.
    if (!this.stream.destroyed) {
      this.stream.end();
      // A peer that never reads must not keep the socket open forever.
      this.stream.once('close', this.broker.clock.after(FORCE_CLOSE_AFTER_MS, () => this.stream.destroy()));
    }
    this.broker.onConnectionClosed(this);
  }

  /** The socket's 'error' (through `onErrorOf`). */
  onStreamError(error: Error): void {
    this.broker.logger.debug({ clientId: this.clientId || undefined, err: error.message }, 'socket error');
    this.destroy('connection-lost');
    this.stream.destroy();
  }

  /** The socket's 'close' (through `onCloseOf`). */
  onStreamClose(): void {
    this.destroy('connection-lost');
  }
}

// Module-level callbacks with the connection as argument or `this`: a closure per connection for
// each would be ~60 bytes of every idle connection's heap. The socket's listeners find their
// connection under a symbol on the socket (one property, not four closures and their context).
const CONNECTION = Symbol('midge.connection');
type OwnedStream = Duplex & { [CONNECTION]: Connection };

function onDataOf(this: OwnedStream, chunk: Buffer): void {
  this[CONNECTION].onData(chunk);
}

function onDrainOf(this: OwnedStream): void {
  this[CONNECTION].onDrain();
}

function onErrorOf(this: OwnedStream, error: Error): void {
  this[CONNECTION].onStreamError(error);
}

function onCloseOf(this: OwnedStream): void {
  this[CONNECTION].onStreamClose();
}

function endStream(this: Duplex): void {
  this.end();
}

function uncorkOf(connection: Connection): void {
  connection.uncork();
}

function endThrottleOf(connection: Connection): void {
  connection.endThrottle();
}
