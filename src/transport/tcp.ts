/** Plain TCP listener (type `mqtt`). */
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionInfo, Listener } from '../broker/index.js';
import { afterProxyHeader, closeServer, describeListener, listenOn, peerAddress } from './sockets.js';

export interface TcpOptions {
  host: string;
  port: number;
  /** Expect a PROXY protocol v1/v2 header first (behind HAProxy, nginx, a cloud balancer). */
  proxyProtocol?: boolean;
}

export class TcpListener implements Listener {
  private server: net.Server | undefined;

  constructor(private readonly options: TcpOptions) {}

  get description(): string {
    return describeListener('mqtt', this.options.host, this.options.port, this.server);
  }

  start(accept: (stream: Duplex, info: ConnectionInfo) => void): Promise<AddressInfo> {
    const server = net.createServer({ noDelay: true }, (socket) => {
      const direct = peerAddress(socket);
      if (!this.options.proxyProtocol) {
        accept(socket, { remoteAddress: direct });
        return;
      }
      afterProxyHeader(socket, (clientAddress) => {
        accept(socket, { remoteAddress: clientAddress ?? direct });
        socket.resume();
      });
    });
    this.server = server;
    return listenOn(server, this.options.port, this.options.host);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}
