/**
 * HTTP sink with Node's built-in fetch: one request per message (`each`) or per batch (`batch`,
 * a JSON array of envelopes), templated URL, headers and body, and an Idempotency-Key from the
 * stable message id so the receiver can drop the duplicates a crash or a timeout may cause.
 * 2xx confirms; 408/425/429/5xx and network errors are transient (Retry-After honoured); the
 * `pauseOn` statuses (401/403/404/407) mean the configuration is wrong; any other 4xx is a data error.
 */
import type { HttpSinkConfig } from '../../config/index.js';
import { envelopeOf } from '../envelope.js';
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
  return 'configuration'; // 1xx/3xx that fetch did not resolve: the URL is not an ingest endpoint
}

export class HttpSink implements Sink {
  readonly kind = 'http';
  private readonly url: Template;
  private readonly headers: Array<[string, Template]>;
  private readonly body: Template | undefined;
  private readonly hasIdempotencyHeader: boolean;
  private readonly controllers = new Set<AbortController>();

  constructor(private readonly settings: HttpSinkSettings) {
    this.url = new Template(settings.url);
    this.headers = Object.entries(settings.headers).map(([name, value]) => [name, new Template(value)]);
    this.body = settings.sink.body === undefined ? undefined : new Template(settings.sink.body);
    this.hasIdempotencyHeader = Object.keys(settings.headers).some((h) => h.toLowerCase() === 'idempotency-key');
  }

  async open(): Promise<void> {
    // Nothing to open: each request stands alone; fetch keeps the connections alive.
  }

  async close(): Promise<void> {
    for (const controller of this.controllers) controller.abort();
  }

  async send(batch: readonly ConnectorMessage[]): Promise<void> {
    if (this.settings.sink.bodyMode === 'each') {
      for (let i = 0; i < batch.length; i++) {
        const m = batch[i]!;
        await this.request(this.url.render(m), m, [m], this.body ? this.body.render(m) : JSON.stringify(envelopeOf(m)), m.id, i);
      }
      return;
    }
    // One request per URL (a templated URL may differ per topic), in order within each, all at once.
    const groups = new Map<string, ConnectorMessage[]>();
    for (const m of batch) {
      const url = this.url.render(m);
      const group = groups.get(url);
      if (group) group.push(m);
      else groups.set(url, [m]);
    }
    const sent = [...groups].map(async ([url, group]) => {
      const body = this.body ? group.map((m) => this.body!.render(m)).join('\n') : JSON.stringify(group.map(envelopeOf));
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
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    for (const [name, template] of this.headers) headers[name.toLowerCase()] = template.render(first);
    if (!this.hasIdempotencyHeader) headers['idempotency-key'] = idempotencyKey;
    if (messages.some((m) => m.isRedelivered)) headers['midge-redelivered'] = '1';
    const controller = new AbortController();
    this.controllers.add(controller);
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${this.settings.sink.timeoutMs} ms`)), this.settings.sink.timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, { method: this.settings.sink.method, headers, body, signal: controller.signal });
      // Read the answer to the end (it frees the connection); it is never logged.
      await response.arrayBuffer();
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = controller.signal.aborted ? `timeout after ${this.settings.sink.timeoutMs} ms` : (cause?.code ?? cause?.message ?? (error as Error).message);
      throw new SinkError('transient', `http: ${reason}`, { confirmed: confirmedBefore, cause: error });
    } finally {
      clearTimeout(timer);
      this.controllers.delete(controller);
    }
    const verdict = classifyStatus(response.status, this.settings.sink.pauseOn);
    if (verdict === 'ok') return;
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    throw new SinkError(verdict, `http ${response.status}`, { confirmed: confirmedBefore, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }
}
