/** Small pieces the views share: polling, a pager, a two-step confirm button, an error line. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Unauthorized } from './api.js';
import { count } from './format.js';

/** Loads now and every `intervalMs`; `deps` restart it. Errors other than 401 are shown. */
export function usePoll<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[]): { data: T | undefined; error: string | undefined; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let isCurrent = true;
    const run = (): void => {
      loadRef.current().then(
        (value) => {
          if (!isCurrent) return;
          setData(value);
          setError(undefined);
        },
        (err: unknown) => {
          if (isCurrent && !(err instanceof Unauthorized)) setError((err as Error).message);
        },
      );
    };
    run();
    const timer = intervalMs > 0 ? setInterval(run, intervalMs) : undefined;
    return () => {
      isCurrent = false;
      if (timer) clearInterval(timer);
    };
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}

export function ErrorLine({ error }: { error: string | undefined }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

export function Pager({ total, offset, limit, onOffset }: { total: number; offset: number; limit: number; onOffset: (offset: number) => void }) {
  const last = Math.min(offset + limit, total);
  return (
    <div class="pager">
      <span>
        {total === 0 ? 'none' : `${count(offset + 1)}–${count(last)} of ${count(total)}`}
      </span>
      <button type="button" disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - limit))}>
        ‹ Previous
      </button>
      <button type="button" disabled={last >= total} onClick={() => onOffset(offset + limit)}>
        Next ›
      </button>
    </div>
  );
}

/** A destructive action: the first press asks, the second does it (no blocking dialogs). */
export function ConfirmButton({ label, confirmLabel, onConfirm, name }: { label: string; confirmLabel: string; onConfirm: () => void; name: string }) {
  const [isAsking, setAsking] = useState(false);
  if (!isAsking) {
    return (
      <button type="button" class="danger" aria-label={`${label} ${name}`} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span class="confirm">
      <button type="button" class="danger" aria-label={`${confirmLabel} ${name}`} onClick={() => { setAsking(false); onConfirm(); }}>
        {confirmLabel}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

export function Card({ label, value, hint }: { label: string; value: ComponentChildren; hint?: string }) {
  return (
    <div class="card">
      <div class="card-label">{label}</div>
      <div class="card-value">{value}</div>
      {hint ? <div class="card-hint">{hint}</div> : null}
    </div>
  );
}

/** A search box that reports after the typing pauses. */
export function SearchBox({ value, onChange, placeholder, label }: { value: string; onChange: (v: string) => void; placeholder: string; label: string }) {
  const [text, setText] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => {
      if (text !== value) onChange(text);
    }, 250);
    return () => clearTimeout(timer);
  }, [text]);
  return <input type="search" aria-label={label} placeholder={placeholder} value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />;
}
