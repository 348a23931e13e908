/** Shared pieces of the connector tests: a numbered-stream publisher and a scriptable HTTP backend. */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';

/**
 * Publishes `count` numbered messages (payload = the number) round-robin over `topics` at `qos`
 * with up to `inflight` unacknowledged, and returns which numbers were PUBACKed, per topic.
 * Publishes rejected by the client (the broker died under it) are simply not acknowledged.
 */
/** The Receive Maximum the brokers in these tests announce (limits.receiveMaximum, its default). */
const BROKER_RECEIVE_MAXIMUM = 32;

export async function publishNumbered(
  client: MqttClient,
  options: { count: number; topics: string[]; qos?: 0 | 1; inflight?: number; onAcked?: (n: number) => void; payload?: (n: number) => string },
): Promise<Map<string, number[]>> {
  const acked = new Map<string, number[]>(options.topics.map((t) => [t, []]));
  let next = 0;
  const work = async (): Promise<void> => {
    while (next < options.count) {
      const n = next++;
      const topic = options.topics[n % options.topics.length]!;
      try {
        await client.publishAsync(topic, options.payload ? options.payload(n) : String(n), { qos: options.qos ?? 1 });
        acked.get(topic)!.push(n);
        options.onAcked?.(n);
      } catch {
        // not acknowledged: nothing owed
      }
    }
  };
  // An MQTT 5 client keeps at most the broker's Receive Maximum in flight [5.0 MQTT-3.3.4-7]
  // (32 by default; MQTT.js does not hold back by itself, and the broker disconnects beyond it).
  await Promise.all(Array.from({ length: Math.min(options.inflight ?? 32, BROKER_RECEIVE_MAXIMUM) }, work));
  return acked;
}

export function connectPublisher(url: string, clientId: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 5 });
}

/** Whether the first occurrences of each number come in ascending order (duplicates allowed). */
export function isOrderKept(received: readonly number[]): boolean {
  const seen = new Set<number>();
  let last = -1;
  for (const n of received) {
    if (seen.has(n)) continue;
    seen.add(n);
    if (n < last) return false;
    last = n;
  }
  return true;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What the fake backend does with a request: answer with a status (and headers), or hang. */
export type HttpVerdict = { status: number; headers?: Record<string, string>; delayMs?: number } | 'hang';

/**
 * An in-process HTTP backend (node:http) that records every request and answers as the test's
 * script says; `accepted` holds the envelopes of 2xx-answered requests, in arrival order.
 */
export class FakeHttpBackend {
  readonly requests: RecordedRequest[] = [];
  readonly accepted: Array<Record<string, unknown>> = [];
  script: (request: RecordedRequest, index: number) => HttpVerdict = () => ({ status: 200 });
  private server: http.Server | undefined;
  private readonly hanging = new Set<http.ServerResponse>();
  private waiters: Array<{ check: () => boolean; resolve: () => void }> = [];

  async start(port = 0): Promise<string> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        const recorded: RecordedRequest = { method: req.method!, url: req.url!, headers: req.headers, body, at: Date.now() };
        const index = this.requests.push(recorded) - 1;
        const verdict = this.script(recorded, index);
        if (verdict === 'hang') {
          this.hanging.add(res);
          res.on('close', () => this.hanging.delete(res));
          return;
        }
        const answer = (): void => {
          if (res.destroyed) return;
          if (verdict.status >= 200 && verdict.status < 300) {
            const parsed = JSON.parse(body) as unknown;
            for (const envelope of Array.isArray(parsed) ? parsed : [parsed]) this.accepted.push(envelope as Record<string, unknown>);
          }
          res.writeHead(verdict.status, { 'content-type': 'text/plain', ...verdict.headers });
          res.end('ok');
          this.waiters = this.waiters.filter((w) => (w.check() ? (w.resolve(), false) : true));
        };
        if (verdict.delayMs) setTimeout(answer, verdict.delayMs);
        else answer();
      });
    });
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Numbers (payloads) accepted per topic, in arrival order. */
  acceptedByTopic(): Map<string, number[]> {
    const byTopic = new Map<string, number[]>();
    for (const e of this.accepted) {
      const list = byTopic.get(e.topic as string) ?? [];
      list.push(Number(e.payload));
      byTopic.set(e.topic as string, list);
    }
    return byTopic;
  }

  /** Resolves once `check` holds after some accepted request (or now). */
  waitUntil(check: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out: ${describe()}`)), timeoutMs);
      this.waiters.push({
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

/** Every acknowledged number that never reached the backend, per topic. */
export function missingAcked(acked: Map<string, number[]>, received: Map<string, number[]>): number[] {
  const missing: number[] = [];
  for (const [topic, numbers] of acked) {
    const got = new Set(received.get(topic) ?? []);
    for (const n of numbers) if (!got.has(n)) missing.push(n);
  }
  return missing;
}

/**
 * An admin API request on a connection of its own (fetch would reuse a keep-alive connection the
 * server may be closing after its idle timeout: ECONNRESET on a loaded machine).
 */
export function adminRequest(method: string, url: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (d: string) => (text += d));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text === '' ? undefined : (JSON.parse(text) as unknown) }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}
