/** Bridges to other brokers; whether connectors or durable queues are configured (they have no view yet). */
import { get, type BridgeRow, type Overview } from '../api.js';
import { count } from '../format.js';
import { ErrorLine, usePoll } from '../ui.js';

export function BridgesView() {
  const { data, error } = usePoll(() => get<BridgeRow[]>('bridges'), 3000, []);
  const overview = usePoll(() => get<Overview>('overview'), 0, []).data;
  return (
    <section aria-labelledby="bridges-title">
      <h1 id="bridges-title">Bridges</h1>
      <ErrorLine error={error} />
      <div class="table-wrap">
        <table id="bridges-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col" class="num">Queued (lag)</th>
              <th scope="col" class="num">In flight</th>
              <th scope="col" class="num">Forwarded</th>
              <th scope="col" class="num">Received</th>
            </tr>
          </thead>
          <tbody>
            {data?.map((b) => (
              <tr key={b.name}>
                <td class="id">{b.name}</td>
                <td>
                  <span class={`badge ${b.isConnected ? 'ok' : 'bad'}`}>{b.isConnected ? 'connected' : 'disconnected'}</span>
                </td>
                <td class="num">{count(b.queued)}</td>
                <td class="num">{count(b.inflight)}</td>
                <td class="num">{count(b.forwarded)}</td>
                <td class="num">{count(b.received)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {data && data.length === 0 ? <p class="muted">No bridges are configured (see “bridges” in the configuration).</p> : null}
      {overview && !overview.features.connectors ? <p class="muted">No connectors or durable queues are configured.</p> : null}
      {overview?.features.connectors ? (
        <p class="muted" id="connectors-note">
          Connectors or durable queues are configured; this dashboard has no view of them yet: their state is at GET /api/v1/connectors and /api/v1/queues, and in /metrics.
        </p>
      ) : null}
    </section>
  );
}
