/**
 * The dashboard's only way to the broker: the admin API over fetch, with the bearer token in a
 * header (never in a URL). The token lives in memory and in sessionStorage (gone with the tab).
 */
import type { StatsSample } from './api-types.js';

export type * from './api-types.js';

const TOKEN_KEY = 'midge.dashboard.token';

/** The API said 401: the token is missing or wrong. The app shows the login form. */
export class Unauthorized extends Error {}

let token: string | null = sessionStorage.getItem(TOKEN_KEY);
const unauthorizedListeners = new Set<() => void>();

export function setToken(value: string | null): void {
  token = value;
  if (value === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, value);
}

export function currentToken(): string | null {
  return token;
}

export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

function headers(): HeadersInit {
  return token === null ? {} : { authorization: `Bearer ${token}` };
}

async function request<T>(method: 'GET' | 'DELETE', path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(key, String(value));
  const search = params.toString();
  const url = `/api/v1/${path}${search === '' ? '' : `?${search}`}`;
  const response = await fetch(url, { method, headers: headers(), cache: 'no-store' });
  if (response.status === 401) {
    for (const listener of unauthorizedListeners) listener();
    throw new Unauthorized('missing or wrong token');
  }
  const body = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (!response.ok && response.status !== 404) throw new Error(body.error ?? `HTTP ${response.status}`);
  return body;
}

export const get = <T>(path: string, query?: Record<string, string | number | undefined>): Promise<T> => request<T>('GET', path, query);
export const del = <T>(path: string, query?: Record<string, string | number | undefined>): Promise<T> => request<T>('DELETE', path, query);

// --- writes (the Users view) ----------------------------------------------------------------

/** An answer other than 2xx from a write or a users call: the status and the API's reason. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Any method, an optional JSON body; every non-2xx answer (404 too) throws an ApiError carrying
 * the API's `error` text, so the view can show "409: user x exists" as the API put it.
 */
export async function send<T>(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const auth: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  const init: RequestInit =
    body === undefined
      ? { method, headers: auth, cache: 'no-store' }
      : { method, headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body), cache: 'no-store' };
  const response = await fetch(`/api/v1/${path}`, init);
  if (response.status === 401) {
    for (const listener of unauthorizedListeners) listener();
    throw new Unauthorized('missing or wrong token');
  }
  const answer = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (!response.ok) throw new ApiError(response.status, answer.error ?? `HTTP ${response.status}`);
  return answer;
}

/** Tries the token (or none) against the API: true when it opens the data. */
export async function checkToken(candidate: string | null): Promise<boolean> {
  const response = await fetch('/api/v1/overview', { headers: candidate === null ? {} : { authorization: `Bearer ${candidate}` }, cache: 'no-store' });
  return response.ok;
}

// --- the stats stream ------------------------------------------------------------------------

/**
 * Follows /api/v1/stats/stream (Server-Sent Events read through fetch, since EventSource cannot
 * send the Authorization header); reconnects after a pause. Returns the function that stops it.
 */
export function followStats(onHistory: (samples: StatsSample[]) => void, onSample: (sample: StatsSample) => void): () => void {
  let isStopped = false;
  let abort = new AbortController();
  const run = async (): Promise<void> => {
    while (!isStopped) {
      try {
        abort = new AbortController();
        const response = await fetch('/api/v1/stats/stream', { headers: headers(), signal: abort.signal, cache: 'no-store' });
        if (response.status === 401) {
          for (const listener of unauthorizedListeners) listener();
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (data === undefined) continue;
            if (event === 'history') onHistory(JSON.parse(data) as StatsSample[]);
            else if (event === 'sample') onSample(JSON.parse(data) as StatsSample);
          }
        }
      } catch {
        // Broker restarting or network gone: try again shortly.
      }
      if (!isStopped) await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  };
  void run();
  return () => {
    isStopped = true;
    abort.abort();
  };
}
