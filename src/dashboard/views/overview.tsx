/** The broker at a glance: what it is, what it holds, and what flows through it right now. */
import { get, type Overview, type StatsSample } from '../api.js';
import { BINARY_INCREMENTS, LiveChart } from '../chart.js';
import { bytes, count, duration, rate } from '../format.js';
import { Card, ErrorLine, usePoll } from '../ui.js';

export function OverviewView({ samples }: { samples: StatsSample[] }) {
  const { data, error } = usePoll(() => get<Overview>('overview'), 5000, []);
  const latest = samples[samples.length - 1];
  const times = samples.map((s) => s.at / 1000);
  const messageSeries = [
    { label: 'in', colorVar: '--chart-in', values: samples.map((s) => s.messagesInPerSecond) },
    { label: 'out', colorVar: '--chart-out', values: samples.map((s) => s.messagesOutPerSecond) },
  ];
  const byteSeries = [
    { label: 'in', colorVar: '--chart-in', values: samples.map((s) => s.bytesInPerSecond) },
    { label: 'out', colorVar: '--chart-out', values: samples.map((s) => s.bytesOutPerSecond) },
  ];
  const dropped = latest?.dropped ?? data?.dropped ?? {};
  const refused = latest?.refused ?? data?.refused ?? {};
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <ErrorLine error={error} />
      <div class="cards">
        <Card label="Uptime" value={data ? duration(data.uptimeSeconds) : '…'} hint={data ? `since ${new Date(data.startedAt).toLocaleString()}` : undefined} />
        <Card label="Version" value={data ? `Midge ${data.version}` : '…'} hint={data ? `Node.js ${data.node}` : undefined} />
        <Card label="Clients connected" value={<span id="stat-connections">{count(latest?.connections ?? data?.connections ?? 0)}</span>} hint={data ? `most at once: ${count(data.clientsMaximum)}` : undefined} />
        <Card label="Sessions" value={count(latest?.sessions ?? data?.sessions ?? 0)} hint={`queued ${count(latest?.queued ?? data?.queued ?? 0)} · in flight ${count(latest?.inflight ?? data?.inflight ?? 0)}`} />
        <Card label="Subscriptions" value={count(latest?.subscriptions ?? data?.subscriptions ?? 0)} />
        <Card label="Retained messages" value={count(latest?.retained ?? data?.retained ?? 0)} />
      </div>
      <div class="charts">
        <LiveChart id="chart-messages" title="Messages per second" times={times} series={messageSeries} format={(n) => rate(n, 'msg/s')} />
        <LiveChart id="chart-bytes" title="Bytes per second" times={times} series={byteSeries} format={(n) => bytes(n, '/s')} incrs={BINARY_INCREMENTS} />
      </div>
      <div class="columns">
        <div>
          <h2>Listeners</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Address</th>
              </tr>
            </thead>
            <tbody>
              {data?.listeners.map((l) => (
                <tr key={`${l.type}${l.port}`}>
                  <td>{l.type}</td>
                  <td>
                    {l.host}:{l.port}
                    {l.path ?? ''}
                  </td>
                </tr>
              ))}
              {data?.http ? (
                <tr>
                  <td>admin http</td>
                  <td>
                    {data.http.host}:{data.http.port}
                  </td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
        <div>
          <h2>Drops and refusals</h2>
          <p class="muted">
            now: {rate(latest?.droppedPerSecond ?? 0, 'dropped/s')} · {rate(latest?.refusedPerSecond ?? 0, 'refused/s')}
          </p>
          <table>
            <thead>
              <tr>
                <th scope="col">Reason</th>
                <th scope="col" class="num">
                  Total
                </th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(dropped).map(([reason, n]) => (
                <tr key={`d${reason}`}>
                  <td>dropped: {reason}</td>
                  <td class="num">{count(n)}</td>
                </tr>
              ))}
              {Object.entries(refused).map(([reason, n]) => (
                <tr key={`r${reason}`}>
                  <td>refused: {reason}</td>
                  <td class="num">{count(n)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </section>
  );
}
