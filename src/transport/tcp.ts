/** Plain TCP listener (type `mqtt`). */
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionInfo, Listener } from '../broker/index.js';
import { closeServer, describeListener, listenOn } from './listen.js';
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
    return describeListener('mqtt', this.host, this.port, this.server);
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
    return listenOn(server, this.port, this.host);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}
