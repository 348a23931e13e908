/**
 * HTTP sink (node:http / node:https with a keep-alive agent: `fetch` cost about 7 µs of broker CPU
 * per message at batch 100 in the connector benchmark's profile, most of it web streams): one
 * request per message (`each`) or per batch (`batch`, a JSON array of envelopes), templated URL,
 * headers and body, and an Idempotency-Key from the stable message id so the receiver can drop
 * the duplicates a crash or a timeout may cause. 2xx confirms; 408/425/429/5xx and network errors
 * are transient (Retry-After honoured); the `pauseOn` statuses (401/403/404/407) mean the
 * configuration is wrong; any other 4xx is a data error.
 */
import http from 'node:http';
import https from 'node:https';
import type { HttpSinkConfig } from '../../config/index.js';
import { envelopeJsonOf } from '../envelope.js';
import { SinkError, type SinkErrorClass } from '../errors.js';
import { Template } from '../template.js';
import type { ConnectorMessage, Sink } from '../types.js';

export interface HttpSinkSettings {
  /** URL and header values with secrets already resolved (still message templates). */
  url: string;
  headers: Record<string, string>;
  sink: HttpSinkConfig;
}

/** Retry-After as seconds or an HTTP date, in ms. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function classifyStatus(status: number, pauseOn: readonly number[]): SinkErrorClass | 'ok' {
  if (status >= 200 && status < 300) return 'ok';
  if (pauseOn.includes(status)) return 'configuration';
  if (status === 408 || status === 425 || status === 429 || status >= 500) return 'transient';
  if (status >= 400) return 'data';
  return 'configuration'; // 1xx/3xx (redirects are not followed: a POST must not turn into a GET): not an ingest endpoint
}

export class HttpSink implements Sink {
  readonly kind = 'http';
  private readonly url: Template;
  private readonly headers: Array<[string, Template]>;
  private readonly body: Template | undefined;
  private readonly hasIdempotencyHeader: boolean;
  /** Requests in flight (close() ends them). */
  private readonly requests = new Set<http.ClientRequest>();
  /** Keep-alive connections, reused from request to request (most recently used first). */
  private readonly agents: { http: http.Agent; https: https.Agent };

  constructor(private readonly settings: HttpSinkSettings) {
    this.url = new Template(settings.url);
    this.headers = Object.entries(settings.headers).map(([name, value]) => [name, new Template(value)]);
    this.body = settings.sink.body === undefined ? undefined : new Template(settings.sink.body);
    this.hasIdempotencyHeader = Object.keys(settings.headers).some((h) => h.toLowerCase() === 'idempotency-key');
    const agentOptions = { keepAlive: true, keepAliveMsecs: 10_000, scheduling: 'lifo' as const };
    this.agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
  }

  async open(): Promise<void> {
    // Nothing to open: each request stands alone; the agents keep the connections alive.
  }

  async close(): Promise<void> {
    for (const request of this.requests) request.destroy(new Error('sink closed'));
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  async send(batch: readonly ConnectorMessage[]): Promise<void> {
    if (this.settings.sink.bodyMode === 'each') {
      for (let i = 0; i < batch.length; i++) {
        const m = batch[i]!;
        await this.request(this.url.renderCached(m), m, [m], this.body ? this.body.render(m) : envelopeJsonOf(m), m.id, i);
      }
      return;
    }
    // One request per URL (a templated URL may differ per topic), in order within each, all at once.
    const groups = new Map<string, ConnectorMessage[]>();
    for (const m of batch) {
      const url = this.url.renderCached(m);
      const group = groups.get(url);
      if (group) group.push(m);
      else groups.set(url, [m]);
    }
    const sent = [...groups].map(async ([url, group]) => {
      const body = this.body ? group.map((m) => this.body!.render(m)).join('\n') : `[${group.map(envelopeJsonOf).join(',')}]`;
      // The same group gets the same key on every retry: first id plus the group's length.
      await this.request(url, group[0]!, group, body, `${group[0]!.id}+${group.length}`, 0);
      return group;
    });
    const results = await Promise.allSettled(sent);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failure) return;
    const confirmed = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    const error = failure.reason as SinkError;
    const retryAfterMs = error.options?.retryAfterMs;
    throw new SinkError(error.errorClass ?? 'transient', error.reason ?? String(failure.reason), { confirmed, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), cause: error });
  }

  private async request(url: string, first: ConnectorMessage, messages: readonly ConnectorMessage[], body: string, idempotencyKey: string, confirmedBefore: number): Promise<void> {
    const payload = Buffer.from(body, 'utf8');
    const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(payload.length) };
    for (const [name, template] of this.headers) headers[name.toLowerCase()] = template.render(first);
    if (!this.hasIdempotencyHeader) headers['idempotency-key'] = idempotencyKey;
    if (messages.some((m) => m.isRedelivered)) headers['midge-redelivered'] = '1';
    let answer: { status: number; retryAfter: string | null };
    try {
      answer = await this.exchange(url, headers, payload);
    } catch (error) {
      const e = error as { code?: string; message?: string };
      throw new SinkError('transient', `http: ${e.code ?? e.message ?? String(error)}`, { confirmed: confirmedBefore, cause: error });
    }
    const verdict = classifyStatus(answer.status, this.settings.sink.pauseOn);
    if (verdict === 'ok') return;
    const retryAfterMs = parseRetryAfter(answer.retryAfter);
    throw new SinkError(verdict, `http ${answer.status}`, { confirmed: confirmedBefore, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }

  /** One request; resolves with the status once the answer was read to its end (never logged). */
  private exchange(url: string, headers: Record<string, string>, payload: Buffer): Promise<{ status: number; retryAfter: string | null }> {
    const timeoutMs = this.settings.sink.timeoutMs;
    return new Promise((resolve, reject) => {
      let isSettled = false;
      const settle = (error: Error | undefined, value?: { status: number; retryAfter: string | null }): void => {
        if (isSettled) return;
        isSettled = true;
        clearTimeout(timer);
        this.requests.delete(request);
        if (error) reject(error);
        else resolve(value!);
      };
      const target = new URL(url);
      const isHttps = target.protocol === 'https:';
      const request = (isHttps ? https : http).request(target, { method: this.settings.sink.method, headers, agent: isHttps ? this.agents.https : this.agents.http }, (response) => {
        // Read to the end: it frees the connection for the next request.
        response.on('data', () => undefined);
        response.on('end', () => {
          const retryAfter = response.headers['retry-after'];
          settle(undefined, { status: response.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : null });
        });
        response.on('error', (error) => settle(error));
        response.on('aborted', () => settle(new Error('answer cut short')));
      });
      const timer = setTimeout(() => {
        settle(Object.assign(new Error(`timeout after ${timeoutMs} ms`), { code: `timeout after ${timeoutMs} ms` }));
        request.destroy();
      }, timeoutMs);
      this.requests.add(request);
      request.on('error', (error) => settle(error));
      request.end(payload);
    });
  }
}
