/** Retained messages: browse by topic prefix, read a payload as text, JSON or hex, delete. */
import { useState } from 'preact/hooks';
import { del, get, type PageOf, type RetainedRow } from '../api.js';
import { bytes, count } from '../format.js';
import { ConfirmButton, ErrorLine, Pager, SearchBox, usePoll } from '../ui.js';

const PAGE = 50;

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function hexDump(data: Uint8Array): string {
  const lines: string[] = [];
  for (let offset = 0; offset < data.length; offset += 16) {
    const row = data.subarray(offset, offset + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}

type Mode = 'text' | 'json' | 'hex';

function PayloadView({ topic }: { topic: string }) {
  const [mode, setMode] = useState<Mode | undefined>(undefined);
  const { data, error } = usePoll(() => get<Array<{ topic: string; payloadBase64: string }>>('retained', { topic }), 0, [topic]);
  const found = Array.isArray(data) ? data.find((m) => m.topic === topic) : undefined;
  if (error) return <ErrorLine error={error} />;
  if (!data) return <p class="muted">Loading…</p>;
  if (!found) return <p class="muted">This message is gone.</p>;
  const raw = decodeBase64(found.payloadBase64);
  let text: string | undefined;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    text = undefined;
  }
  let json: string | undefined;
  if (text !== undefined) {
    try {
      json = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      json = undefined;
    }
  }
  const shown: Mode = mode ?? (json !== undefined ? 'json' : text !== undefined ? 'text' : 'hex');
  const body = shown === 'json' ? (json ?? 'Not JSON.') : shown === 'text' ? (text ?? 'Not UTF-8 text.') : hexDump(raw);
  return (
    <div>
      <div class="segmented" role="group" aria-label="View payload as">
        {(['text', 'json', 'hex'] as Mode[]).map((m) => (
          <button type="button" key={m} aria-pressed={shown === m} onClick={() => setMode(m)}>
            {m === 'json' ? 'JSON' : m === 'hex' ? 'Hex' : 'Text'}
          </button>
        ))}
      </div>
      <pre class="payload" id="payload-view" tabIndex={0}>
        {body}
      </pre>
    </div>
  );
}

export function RetainedView() {
  const [prefix, setPrefix] = useState('');
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const { data, error, reload } = usePoll(() => get<PageOf<RetainedRow>>('retained/browse', { prefix, offset, limit: PAGE }), 5000, [prefix, offset]);
  const remove = async (topic: string): Promise<void> => {
    try {
      await del('retained', { topic });
      setNotice(`Deleted the retained message on ${topic}.`);
      if (selected === topic) setSelected(undefined);
    } catch (err) {
      setNotice(`Failed: ${(err as Error).message}`);
    }
    reload();
  };
  return (
    <section aria-labelledby="retained-title">
      <h1 id="retained-title">Retained messages</h1>
      <div class="toolbar">
        <SearchBox label="Topic prefix" placeholder="topic prefix, e.g. home/kitchen" value={prefix} onChange={(v) => { setPrefix(v.trim()); setOffset(0); }} />
        {data ? <Pager total={data.total} offset={data.offset} limit={PAGE} onOffset={setOffset} /> : null}
      </div>
      {notice ? <p class="notice" role="status">{notice}</p> : null}
      <ErrorLine error={error} />
      <div class="columns">
        <div class="table-wrap">
          <table id="retained-table">
            <thead>
              <tr>
                <th scope="col">Topic</th>
                <th scope="col" class="num">QoS</th>
                <th scope="col" class="num">Size</th>
                <th scope="col"><span class="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {data?.items.map((row) => (
                <tr key={row.topic} data-topic={row.topic} class={selected === row.topic ? 'selected' : ''}>
                  <td>
                    <button type="button" class="link" onClick={() => setSelected(row.topic)}>
                      {row.topic}
                    </button>
                  </td>
                  <td class="num">{row.qos}</td>
                  <td class="num">{bytes(row.bytes)}</td>
                  <td>
                    <ConfirmButton label="Delete" confirmLabel="Really delete" name={row.topic} onConfirm={() => void remove(row.topic)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {data && data.total === 0 ? <p class="muted">No retained messages{prefix ? ` under ${prefix}` : ''}.</p> : null}
        </div>
        <div>
          {selected ? (
            <div class="panel">
              <h2>
                <code>{selected}</code>
              </h2>
              <PayloadView topic={selected} />
            </div>
          ) : (
            <p class="muted">Select a topic to read its payload. {data ? `${count(data.total)} retained here.` : ''}</p>
          )}
        </div>
      </div>
    </section>
  );
}
