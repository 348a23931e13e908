/**
 * Subscriptions as a topic tree, expanded level by level (each level is one request), with the
 * message rate of everything under each node. Selecting a node lists who subscribes exactly there.
 */
import { useState } from 'preact/hooks';
import { get, type TopicLevel } from '../api.js';
import { count, rate } from '../format.js';
import { ErrorLine, usePoll } from '../ui.js';

function Level({ parent, depth, selected, onSelect }: { parent: string; depth: number; selected: string; onSelect: (path: string) => void }) {
  const [open, setOpen] = useState<Set<string>>(new Set());
  const { data, error } = usePoll(() => get<TopicLevel>('topics', { parent }), 5000, [parent]);
  const toggle = (path: string): void => {
    const next = new Set(open);
    if (next.has(path)) next.delete(path);
    else next.add(path);
    setOpen(next);
  };
  return (
    <>
      <ErrorLine error={error} />
      {/* Plain nested lists of buttons: Tab and Enter work everywhere, without a tree widget's arrow-key contract. */}
      <ul class="tree" aria-label={depth === 0 ? 'Topic tree' : undefined}>
        {data?.children.map((child) => (
          <li key={child.path}>
            <div class={`tree-row${selected === child.path ? ' selected' : ''}`}>
              {child.hasChildren ? (
                <button type="button" class="twisty" aria-expanded={open.has(child.path)} aria-label={`Expand ${child.path}`} onClick={() => toggle(child.path)}>
                  {open.has(child.path) ? '▾' : '▸'}
                </button>
              ) : (
                <span class="twisty" aria-hidden="true" />
              )}
              <button type="button" class="link" aria-pressed={selected === child.path} onClick={() => onSelect(child.path)}>
                {child.name === '' ? '(empty level)' : child.name}
              </button>
              <span class="tree-figures">
                <span title="subscriptions at or below">{count(child.subscriptionsBelow)} subs</span>
                <span title="retained messages at or below">{count(child.retainedBelow)} retained</span>
                <span title="messages per second at or below">{rate(child.messagesPerSecond, 'msg/s')}</span>
              </span>
            </div>
            {open.has(child.path) ? <Level parent={child.path} depth={depth + 1} selected={selected} onSelect={onSelect} /> : null}
          </li>
        ))}
      </ul>
      {depth === 0 && data && !data.isRateReady ? <p class="muted">Message rates appear after the first few seconds of counting.</p> : null}
      {depth === 0 && data && data.children.length === 0 ? <p class="muted">No subscriptions, retained messages or traffic yet.</p> : null}
    </>
  );
}

function Subscribers({ path }: { path: string }) {
  const { data } = usePoll(() => get<TopicLevel>('topics', { parent: path }), 5000, [path]);
  if (!data) return null;
  return (
    <div class="panel">
      <h2>
        <code>{path}</code>
      </h2>
      <p class="muted">
        {rate(data.messagesPerSecond, 'msg/s')} to this exact topic · {count(data.subscriberCount)} subscriptions with this exact filter
      </p>
      {data.subscribers.length > 0 ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Client id</th>
              <th scope="col">Filter</th>
              <th scope="col" class="num">QoS</th>
            </tr>
          </thead>
          <tbody>
            {data.subscribers.map((s) => (
              <tr key={`${s.clientId}${s.filter}`}>
                <td class="id">{s.clientId}</td>
                <td>
                  <code>{s.filter}</code>
                </td>
                <td class="num">{s.qos}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}

export function TopicsView() {
  const [selected, setSelected] = useState('');
  return (
    <section aria-labelledby="topics-title">
      <h1 id="topics-title">Subscriptions and topics</h1>
      <div class="columns">
        <div>
          <Level parent="" depth={0} selected={selected} onSelect={setSelected} />
        </div>
        <div>{selected ? <Subscribers path={selected} /> : <p class="muted">Select a topic to see its subscribers.</p>}</div>
      </div>
    </section>
  );
}
