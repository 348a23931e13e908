/**
 * A loopback TCP proxy that passes the client's bytes to the server at a fixed rate (the answers
 * come back unthrottled): a backend that is slow but alive, for the tests that must tell "slow"
 * from "hung". Each client connection gets its own upstream connection; closing either closes both.
 */
import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export interface ThrottledProxy {
  readonly port: number;
  /** Client bytes passed to the server so far. */
  readonly bytesForwarded: number;
  close(): Promise<void>;
}

const TICK_MS = 20;

export async function startThrottledProxy(targetPort: number, bytesPerSecond: number): Promise<ThrottledProxy> {
  const sockets = new Set<net.Socket>();
  let bytesForwarded = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const waiting: Buffer[] = [];
    let waitingBytes = 0;
    const perTick = Math.max(1, Math.floor((bytesPerSecond * TICK_MS) / 1000));
    const ticker = setInterval(() => {
      let budget = perTick;
      while (budget > 0 && waiting.length > 0) {
        const head = waiting[0]!;
        const part = head.subarray(0, budget);
        if (part.length === head.length) waiting.shift();
        else waiting[0] = head.subarray(part.length);
        budget -= part.length;
        waitingBytes -= part.length;
        bytesForwarded += part.length;
        upstream.write(part);
      }
      if (waitingBytes < 65_536 && client.isPaused()) client.resume();
    }, TICK_MS);
    client.on('data', (chunk: Buffer) => {
      waiting.push(chunk);
      waitingBytes += chunk.length;
      if (waitingBytes >= 65_536) client.pause();
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const end = (): void => {
      clearInterval(ticker);
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    get bytesForwarded() {
      return bytesForwarded;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
