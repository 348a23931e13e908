/** Plain TCP listener (type `mqtt`). */
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionInfo, Listener } from '../broker/index.js';

export class TcpListener implements Listener {
  private server: net.Server | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  get description(): string {
    const address = this.server?.address();
    const port = address && typeof address === 'object' ? address.port : this.port;
    return `mqtt://${this.host}:${port}`;
  }

  start(accept: (stream: Duplex, info: ConnectionInfo) => void): Promise<AddressInfo> {
    const server = net.createServer({ noDelay: true }, (socket) => {
      accept(socket, { remoteAddress: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}` });
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
