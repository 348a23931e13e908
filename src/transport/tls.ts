/**
 * TLS listener (type `mqtts`): TLS 1.2+, optional client certificates (mutual TLS), optional PROXY
 * protocol header in front of the handshake (the balancer passes TLS through untouched).
 */
import { readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { ConnectionInfo, Listener } from '../broker/index.js';
import { afterProxyHeader, closeServer, describeListener, ignoreAcceptErrors, listenOn, peerAddress, PendingSockets } from './sockets.js';

/** Certificate material, each as PEM (string or Buffer) or as the path of a PEM file. */
export interface TlsMaterial {
  cert: Buffer | string;
  key: Buffer | string;
  /** CA for client certificates. Without `requireClientCert` a certificate is asked for but optional. */
  ca?: Buffer | string;
  /** Refuse clients without a certificate signed by `ca` (mutual TLS). */
  requireClientCert?: boolean;
}

export interface TlsOptions extends TlsMaterial {
  host: string;
  port: number;
  /** Expect a PROXY protocol v1/v2 header before the TLS handshake (behind HAProxy, nginx stream, a cloud balancer). */
  proxyProtocol?: boolean;
  /** A client that has not finished its handshake by then is dropped (default 10 s; Node's own is 120 s). */
  handshakeTimeoutMs?: number;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** A string that is not PEM text names a file. Read when the listener starts, so a bad path fails `listen()`. */
function pem(value: Buffer | string): Buffer | string {
  return typeof value === 'string' && !value.includes('-----BEGIN') ? readFileSync(value) : value;
}

export function tlsServerOptions(material: TlsMaterial): tls.TlsOptions {
  if (material.requireClientCert && material.ca === undefined) {
    // Without a CA Node would accept any client certificate signed by a public root.
    throw new Error('requireClientCert needs ca (the CA that signs client certificates)');
  }
  return {
    cert: pem(material.cert),
    key: pem(material.key),
    ...(material.ca !== undefined ? { ca: pem(material.ca) } : {}),
    minVersion: 'TLSv1.2',
    requestCert: material.requireClientCert === true || material.ca !== undefined,
    rejectUnauthorized: material.requireClientCert === true,
  };
}

/**
 * The identity a verified client certificate carries: the subject CN, else the first DNS, email
 * or URI subject alternative name. Undefined when no certificate was verified against the CA.
 */
export function certificateIdentity(socket: tls.TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  // A subject with several CNs comes back as an array, whatever the type says.
  const cn: unknown = cert.subject?.CN;
  const firstCn = Array.isArray(cn) ? cn[0] : cn;
  if (typeof firstCn === 'string' && firstCn !== '') return firstCn;
  return nameFromSubjectAltName(cert.subjectaltname);
}

/**
 * Node lists SANs as `DNS:a, IP Address:10.0.0.1, email:b@c, URI:d`, quoting (JSON) any value
 * with a comma or quote in it, so a crafted value cannot pose as a second entry.
 */
function nameFromSubjectAltName(subjectAltName: string | undefined): string | undefined {
  if (!subjectAltName) return undefined;
  const entry = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y;
  for (let match = entry.exec(subjectAltName); match !== null; match = entry.exec(subjectAltName)) {
    const [, type, raw] = match;
    if (type !== 'DNS' && type !== 'email' && type !== 'URI') continue;
    let value: unknown = raw;
    if (raw!.startsWith('"')) {
      try {
        value = JSON.parse(raw!);
      } catch {
        continue;
      }
    }
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

export class TlsListener implements Listener {
  /** The listening server: the TLS server itself, or the TCP server in front of it with PROXY protocol. */
  private server: net.Server | undefined;
  private readonly pending = new PendingSockets();

  constructor(private readonly options: TlsOptions) {}

  get description(): string {
    return describeListener('mqtts', this.options.host, this.options.port, this.server);
  }

  async start(accept: (stream: Duplex, info: ConnectionInfo) => void): Promise<AddressInfo> {
    const serverOptions: tls.TlsOptions = {
      ...tlsServerOptions(this.options),
      handshakeTimeout: this.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      noDelay: true,
    };
    const tlsServer = tls.createServer(serverOptions, (socket) => {
      const proxiedAddress = this.pending.handOver(socket);
      const info: ConnectionInfo = { remoteAddress: proxiedAddress ?? peerAddress(socket) };
      const identity = certificateIdentity(socket);
      if (identity !== undefined) info.certificateIdentity = identity;
      accept(socket, info);
    });
    // A failed or timed-out handshake is the client's problem: no uncaught error, nothing to log.
    tlsServer.on('tlsClientError', (_error, socket) => socket.destroy());
    const server = this.options.proxyProtocol ? this.proxyFront(tlsServer) : tlsServer;
    server.on('connection', (socket: net.Socket) => this.pending.add(socket));
    this.server = server;
    const address = await listenOn(server, this.options.port, this.options.host);
    ignoreAcceptErrors(server);
    return address;
  }

  /**
   * A TCP server that reads the PROXY header, then gives the socket (the TLS bytes put back) to
   * the TLS server as if it had accepted it; TLSSocket replays bytes already buffered.
   */
  private proxyFront(tlsServer: tls.Server): net.Server {
    return net.createServer({ noDelay: true }, (socket) => {
      afterProxyHeader(socket, (clientAddress) => {
        if (socket.destroyed) return;
        if (clientAddress !== undefined) this.pending.setProxiedAddress(socket, clientAddress);
        tlsServer.emit('connection', socket);
      });
    });
  }

  async close(): Promise<void> {
    const closed = closeServer(this.server);
    this.pending.destroyAll();
    await closed;
  }
}
