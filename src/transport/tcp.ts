/** Plain TCP listener (type `mqtt`). */
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionInfo, Listener } from '../broker/index.js';
import { readProxyHeader } from './proxy-protocol.js';

export class TcpListener implements Listener {
  private server: net.Server | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    /** Expect a PROXY protocol v1/v2 header first (behind HAProxy, nginx, a cloud balancer). */
    private readonly isProxied = false,
  ) {}

  get description(): string {
    const address = this.server?.address();
    const port = address && typeof address === 'object' ? address.port : this.port;
    return `mqtt://${this.host}:${port}`;
  }

  start(accept: (stream: Duplex, info: ConnectionInfo) => void): Promise<AddressInfo> {
    const server = net.createServer({ noDelay: true }, (socket) => {
      const direct = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
      if (!this.isProxied) {
        accept(socket, { remoteAddress: direct });
        return;
      }
      socket.on('error', () => socket.destroy());
      readProxyHeader(socket).then(
        (header) => {
          accept(socket, { remoteAddress: header.remoteAddress ?? direct });
          socket.resume();
        },
        () => socket.destroy(),
      );
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve(server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    const server = this.server;
    if (!server?.listening) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
