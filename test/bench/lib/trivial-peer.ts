/**
 * A stand-in for a broker that costs (almost) nothing, to measure the load generator alone. Run
 * as a child process (`node --import tsx trivial-peer.ts <mode> <version> [qos]`), so it has a
 * core of its own as a broker would; prints {"port":N} once listening. Every mode answers the
 * first read (the CONNECT) with a CONNACK, then:
 *   sink     reads and discards; half-closes when the client does, so the client knows all was read
 *   ack      acks each PUBLISH (PUBACK, or PUBREC … PUBCOMP) with the generator's own frame reader
 *   source   writes pre-encoded PUBLISH packets (of the given QoS) as fast as the socket drains
 *   reflect  writes back every byte it reads: a broker with zero routing cost, for latency
 */
import net from 'node:net';
import { FrameReader } from './frame-reader.js';
import { PublishTemplate } from './load-client.js';

export type TrivialPeerMode = 'sink' | 'ack' | 'source' | 'reflect';

const [mode, versionArg, qosArg] = process.argv.slice(2) as [TrivialPeerMode, string, string | undefined];
const version = versionArg === '5' ? 5 : 4;
const qos = Number(qosArg ?? 0) as 0 | 1 | 2;
// 5.0 CONNACK carries a (here empty) property block.
const CONNACK = Buffer.from(version === 5 ? [0x20, 0x03, 0x00, 0x00, 0x00] : [0x20, 0x02, 0x00, 0x00]);
const SOURCE_BATCH = new PublishTemplate('bench/source', Buffer.alloc(64, 0x61), qos, { version }).copies(256);

function pump(socket: net.Socket): void {
  const writeUntilFull = (): void => {
    while (!socket.destroyed && socket.write(SOURCE_BATCH));
  };
  socket.on('drain', writeUntilFull);
  writeUntilFull();
}

function serve(socket: net.Socket): void {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.once('data', () => {
    socket.write(CONNACK);
    if (mode === 'sink') {
      socket.on('data', () => undefined);
      socket.on('end', () => socket.end());
    } else if (mode === 'ack') {
      const reader = new FrameReader(version, { publishReceived: () => undefined, ackReceived: () => undefined, controlReceived: () => undefined });
      socket.on('data', (chunk: Buffer) => {
        const acks = reader.read(chunk);
        if (acks) socket.write(acks);
      });
    } else if (mode === 'source') {
      socket.on('data', () => undefined); // the client's acks
      pump(socket);
    } else {
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
    }
  });
}

const server = net.createServer(serve);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
