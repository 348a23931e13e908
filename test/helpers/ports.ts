import { once } from 'node:events';
import net from 'node:net';

/** A loopback port that was free a moment ago, for peers that cannot listen on port 0 themselves. */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}
