/** TLS listener (type `mqtts`): TLS 1.2+, optional client certificates (mutual TLS). */
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { ConnectionInfo, Listener } from '../broker/index.js';
import { closeServer, describeListener, listenOn } from './listen.js';

export interface TlsOptions {
  host: string;
  port: number;
  cert: Buffer | string;
  key: Buffer | string;
  ca?: Buffer | string;
  /** Refuse clients without a certificate signed by `ca`. */
  requireClientCert?: boolean;
}

/** The identity a verified client certificate carries: subject CN, else the first SAN. */
export function certificateIdentity(socket: tls.TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const cn = cert.subject?.CN;
  if (typeof cn === 'string' && cn !== '') return cn;
  const san = cert.subjectaltname?.split(',')[0]?.trim();
  return san ? san.slice(san.indexOf(':') + 1) : undefined;
}

export function tlsServerOptions(options: Omit<TlsOptions, 'host' | 'port'>): tls.TlsOptions {
  return {
    cert: options.cert,
    key: options.key,
    ...(options.ca ? { ca: options.ca } : {}),
    minVersion: 'TLSv1.2',
    requestCert: options.requireClientCert === true || options.ca !== undefined,
    rejectUnauthorized: options.requireClientCert === true,
  };
}

export class TlsListener implements Listener {
  private server: tls.Server | undefined;

  constructor(private readonly options: TlsOptions) {}

  get description(): string {
    return describeListener('mqtts', this.options.host, this.options.port, this.server);
  }

  start(accept: (stream: Duplex, info: ConnectionInfo) => void): Promise<AddressInfo> {
    const server = tls.createServer(tlsServerOptions(this.options), (socket) => {
      const identity = certificateIdentity(socket);
      const info: ConnectionInfo = { remoteAddress: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}` };
      if (identity !== undefined) info.certificateIdentity = identity;
      accept(socket, info);
    });
    // A failed handshake is the client's problem: never an uncaught error here.
    server.on('tlsClientError', (_error, socket) => socket.destroy());
    this.server = server;
    return listenOn(server, this.options.port, this.options.host);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}
