/**
 * The clients of one scenario run, so the runner can close every one of them however the run
 * ends (done, failed, aborted at its time cap), before it stops the broker.
 */
import { performance } from 'node:perf_hooks';
import { LoadClient, type LoadClientOptions } from './load-client.js';
import { AbortedError } from './wait.js';

export interface IdleConnects {
  connected: number;
  /** Refused, reset or closed before CONNACK. */
  failed: number;
  firstFailure: string;
  /** performance.now() of the last CONNACK. */
  lastConnectedAt: number;
}

export class ClientGroup {
  private readonly clients = new Set<LoadClient>();

  constructor(
    readonly port: number,
    readonly version: 4 | 5,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener('abort', () => this.destroyAll(), { once: true });
  }

  /** Connects one client (CONNECT → CONNACK) in this group's protocol version. */
  async connect(options: Omit<LoadClientOptions, 'protocolVersion'>): Promise<LoadClient> {
    if (this.signal.aborted) throw new AbortedError();
    const client = LoadClient.open(this.port, this.version);
    this.clients.add(client);
    void client.closed.then(() => this.clients.delete(client));
    try {
      await client.handshake(options);
      return client;
    } catch (error) {
      client.destroy();
      throw error;
    }
  }

  connectMany(count: number, optionsFor: (i: number) => Omit<LoadClientOptions, 'protocolVersion'>): Promise<LoadClient[]> {
    return Promise.all(Array.from({ length: count }, (_, i) => this.connect(optionsFor(i))));
  }

  /**
   * Connects clients `idPrefix`0, 1, … keeping at most `outstanding` CONNECTs unanswered, until
   * `count` have been tried or `capMs` has passed (a hanging CONNECT is not waited for).
   */
  async connectIdle(count: number, outstanding: number, capMs: number, idPrefix: string): Promise<IdleConnects> {
    const deadline = performance.now() + capMs;
    const result: IdleConnects = { connected: 0, failed: 0, firstFailure: '', lastConnectedAt: performance.now() };
    let next = 0;
    const connectInTurn = async (): Promise<void> => {
      while (next < count && performance.now() < deadline && !this.signal.aborted) {
        const i = next++;
        try {
          await this.connect({ clientId: `${idPrefix}${i}`, keepalive: 60 });
          result.connected++;
          result.lastConnectedAt = performance.now();
        } catch (error) {
          result.failed++;
          result.firstFailure ||= (error as Error).message;
        }
      }
    };
    let capTimer: NodeJS.Timeout | undefined;
    const capReached = new Promise<void>((resolve) => (capTimer = setTimeout(resolve, capMs)));
    await Promise.race([Promise.all(Array.from({ length: outstanding }, connectInTurn)), capReached]);
    clearTimeout(capTimer);
    return result;
  }

  /** Resolves when every socket has closed. */
  async destroyAll(): Promise<void> {
    const closing = [...this.clients].map((c) => c.closed);
    for (const client of this.clients) client.destroy();
    await Promise.all(closing);
  }
}
