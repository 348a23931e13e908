/**
 * Clients and sessions: one paged, server-filtered list (10,000 rows never reach the browser at
 * once). The clients view shows connected ones; the sessions view all, with their queues.
 */
import { useState } from 'preact/hooks';
import { del, get, type PageOf, type SessionRow } from '../api.js';
import { bytes, count, duration, expiry, protocolName, since } from '../format.js';
import { ConfirmButton, ErrorLine, Pager, SearchBox, usePoll } from '../ui.js';

const PAGE = 50;

export function ClientsView({ mode }: { mode: 'clients' | 'sessions' }) {
  const [q, setQ] = useState('');
  const [offset, setOffset] = useState(0);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const isClients = mode === 'clients';
  const { data, error, reload } = usePoll(
    () => get<PageOf<SessionRow>>('sessions', { q, offset, limit: PAGE, state: isClients ? 'online' : 'all', sort: isClients ? 'id' : 'queued' }),
    3000,
    [q, offset, mode],
  );
  const act = async (row: SessionRow, discard: boolean): Promise<void> => {
    try {
      await del(`clients/${encodeURIComponent(row.id)}`, discard ? { discardSession: 'true' } : {});
      setNotice(discard ? `Session ${row.id} discarded.` : `Client ${row.id} disconnected.`);
    } catch (err) {
      setNotice(`Failed: ${(err as Error).message}`);
    }
    reload();
  };
  const title = isClients ? 'Clients' : 'Sessions';
  return (
    <section aria-labelledby="clients-title">
      <h1 id="clients-title">{title}</h1>
      <div class="toolbar">
        <SearchBox label={`Search ${title.toLowerCase()}`} placeholder="client id, user or address" value={q} onChange={(v) => { setQ(v); setOffset(0); }} />
        {data ? <Pager total={data.total} offset={data.offset} limit={PAGE} onOffset={setOffset} /> : null}
      </div>
      {notice ? <p class="notice" role="status">{notice}</p> : null}
      <ErrorLine error={error} />
      <div class="table-wrap">
        <table id={`${mode}-table`}>
          <thead>
            {isClients ? (
              <tr>
                <th scope="col">Client id</th>
                <th scope="col">Protocol</th>
                <th scope="col">Address</th>
                <th scope="col">User</th>
                <th scope="col" class="num">Keep-alive</th>
                <th scope="col" class="num">In flight</th>
                <th scope="col" class="num">Queued</th>
                <th scope="col">Connected since</th>
                <th scope="col"><span class="sr-only">Actions</span></th>
              </tr>
            ) : (
              <tr>
                <th scope="col">Client id</th>
                <th scope="col">State</th>
                <th scope="col">Expiry</th>
                <th scope="col" class="num">Subscriptions</th>
                <th scope="col" class="num">Queued</th>
                <th scope="col" class="num">Oldest queued</th>
                <th scope="col" class="num">In flight</th>
                <th scope="col" class="num">Dropped</th>
                <th scope="col"><span class="sr-only">Actions</span></th>
              </tr>
            )}
          </thead>
          <tbody>
            {data?.items.map((row) =>
              isClients ? (
                <tr key={row.id} data-client-id={row.id}>
                  <td class="id">{row.id}</td>
                  <td>{protocolName(row.protocol)}</td>
                  <td>{row.address ?? '—'}</td>
                  <td>{row.username ?? '—'}</td>
                  <td class="num">{row.keepAliveSeconds ? `${count(row.keepAliveSeconds)} s` : 'off'}</td>
                  <td class="num">{count(row.inflight)}</td>
                  <td class="num">{count(row.queued)}</td>
                  <td>{since(row.connectedSince)}</td>
                  <td>
                    <ConfirmButton label="Disconnect" confirmLabel="Really disconnect" name={row.id} onConfirm={() => void act(row, false)} />
                  </td>
                </tr>
              ) : (
                <tr key={row.id} data-client-id={row.id}>
                  <td class="id">{row.id}</td>
                  <td>{row.isOnline ? 'online' : `offline since ${since(row.disconnectedAt)}`}</td>
                  <td>{expiry(row.sessionExpiryInterval)}</td>
                  <td class="num">{count(row.subscriptions)}</td>
                  <td class="num" title={bytes(row.queuedBytes)}>{count(row.queued)}</td>
                  <td class="num">{row.oldestQueuedAgeMs === null ? '—' : duration(row.oldestQueuedAgeMs / 1000)}</td>
                  <td class="num">{count(row.inflight)}</td>
                  <td class="num" title={Object.entries(row.dropped).map(([reason, n]) => `${reason}: ${count(n)}`).join(', ')}>
                    {count(Object.values(row.dropped).reduce((a, b) => a + b, 0))}
                  </td>
                  <td>
                    <ConfirmButton label="Discard" confirmLabel="Really discard" name={row.id} onConfirm={() => void act(row, true)} />
                  </td>
                </tr>
              ),
            )}
          </tbody>
        </table>
      </div>
      {data && data.total === 0 ? <p class="muted">{q ? 'Nothing matches.' : isClients ? 'No client is connected.' : 'No sessions.'}</p> : null}
    </section>
  );
}
