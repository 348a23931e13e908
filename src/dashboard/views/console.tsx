/**
 * A live MQTT console over the broker's own WebSocket listener, as the user whose credentials the
 * operator enters: the broker's ACL applies to it like to any client. MQTT.js is loaded only
 * when the operator connects, so the first view does not carry it.
 */
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, type Overview } from '../api.js';
import { bytes } from '../format.js';
import { usePoll } from '../ui.js';

interface Received {
  n: number;
  at: string;
  topic: string;
  qos: number;
  retain: boolean;
  payload: string;
  size: number;
}

const KEEP_MESSAGES = 200;

function parseUserProperties(text: string): Record<string, string> | undefined {
  const pairs = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.includes('='))
    .map((line) => [line.slice(0, line.indexOf('=')).trim(), line.slice(line.indexOf('=') + 1).trim()] as const);
  return pairs.length > 0 ? Object.fromEntries(pairs) : undefined;
}

export function ConsoleView() {
  const overview = usePoll(() => get<Overview>('overview'), 0, []).data;
  const sockets = overview?.listeners.filter((l) => l.type === 'ws' || l.type === 'wss') ?? [];
  const [url, setUrl] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [status, setStatus] = useState('not connected');
  const [isConnected, setConnected] = useState(false);
  const [subStatus, setSubStatus] = useState('');
  const [client, setClient] = useState<MqttClient | null>(null);
  const [filter, setFilter] = useState('#');
  const [subQos, setSubQos] = useState(0);
  const [subscribed, setSubscribed] = useState<string[]>([]);
  const [messages, setMessages] = useState<Received[]>([]);
  const [pub, setPub] = useState({ topic: '', payload: '', qos: 0, retain: false, contentType: '', responseTopic: '', expiry: '', userProperties: '' });
  const [pubStatus, setPubStatus] = useState('');
  const counter = useRef(0);

  const first = sockets[0];
  useEffect(() => {
    if (url === '' && first) setUrl(`${first.type}://${location.hostname}:${first.port}${first.path ?? '/mqtt'}`);
  }, [first?.port]);
  useEffect(() => () => void client?.end(true), [client]);

  const connect = async (event: Event): Promise<void> => {
    event.preventDefault();
    setStatus('loading the MQTT client…');
    // The browser build of MQTT.js has a default export only.
    const mqtt = (await import('mqtt')).default;
    client?.end(true);
    const options = {
      protocolVersion: 5 as const,
      clientId: `midge-dashboard-${Math.random().toString(16).slice(2, 10)}`,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      // Plain timers: MQTT.js's default runs them in a blob: worker, which the CSP refuses.
      timerVariant: 'native' as const,
      clean: true,
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
    };
    setStatus(`connecting to ${url}…`);
    const next = mqtt.connect(url, options);
    next.on('connect', () => {
      setConnected(true);
      setStatus(`connected as ${username || 'anonymous'} (${options.clientId})`);
    });
    next.on('error', (err) => setStatus(`error: ${err.message}`));
    next.on('close', () => {
      setConnected(false);
      setStatus((s) => (s.startsWith('error') ? s : 'disconnected'));
    });
    next.on('message', (topic, payload, packet) => {
      const n = ++counter.current;
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
      } catch {
        text = `(${payload.length} bytes of binary)`;
      }
      const received: Received = { n, at: new Date().toLocaleTimeString(), topic, qos: packet.qos, retain: packet.retain, payload: text, size: payload.length };
      setMessages((list) => [received, ...list].slice(0, KEEP_MESSAGES));
    });
    setSubscribed([]);
    setClient(next);
  };

  const disconnect = (): void => {
    client?.end(true);
    setClient(null);
    setConnected(false);
    setStatus('not connected');
  };

  const subscribe = (event: Event): void => {
    event.preventDefault();
    if (!client) return;
    client.subscribe(filter, { qos: subQos as 0 | 1 | 2 }, (err, granted) => {
      const code = granted?.[0]?.qos ?? 128;
      if (err || code >= 128) setSubStatus(`subscription to ${filter} refused${err ? `: ${err.message}` : ` (reason 0x${code.toString(16)})`}`);
      else {
        setSubStatus(`subscribed to ${filter}`);
        setSubscribed((list) => [...new Set([...list, filter])]);
      }
    });
  };

  const unsubscribe = (f: string): void => {
    client?.unsubscribe(f);
    setSubscribed((list) => list.filter((x) => x !== f));
  };

  const publish = (event: Event): void => {
    event.preventDefault();
    if (!client) return;
    const properties: NonNullable<IClientPublishOptions['properties']> = {};
    if (pub.contentType) properties.contentType = pub.contentType;
    if (pub.responseTopic) properties.responseTopic = pub.responseTopic;
    if (/^\d+$/.test(pub.expiry)) properties.messageExpiryInterval = Number(pub.expiry);
    const userProperties = parseUserProperties(pub.userProperties);
    if (userProperties) properties.userProperties = userProperties;
    setPubStatus('publishing…');
    client.publish(pub.topic, pub.payload, { qos: pub.qos as 0 | 1 | 2, retain: pub.retain, properties }, (err) =>
      setPubStatus(err ? `refused: ${err.message}` : `published to ${pub.topic}${pub.qos > 0 ? ' (acknowledged)' : ''}`),
    );
  };

  return (
    <section aria-labelledby="console-title">
      <h1 id="console-title">MQTT console</h1>
      {overview && sockets.length === 0 ? (
        <p class="notice">
          The broker has no WebSocket listener, so the console cannot connect. Add one to <code>listeners</code>, e.g.{' '}
          <code>{'{ type: ws, host: 127.0.0.1, port: 8080, path: /mqtt }'}</code>.
        </p>
      ) : null}
      <form class="form-row" onSubmit={(e) => void connect(e)} aria-label="Connect">
        <label>
          WebSocket URL
          <input value={url} onInput={(e) => setUrl((e.target as HTMLInputElement).value)} required />
        </label>
        <label>
          User name
          <input value={username} autocomplete="username" onInput={(e) => setUsername((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Password
          <input type="password" value={password} autocomplete="current-password" onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit">Connect</button>
        <button type="button" onClick={disconnect} disabled={!client}>
          Disconnect
        </button>
      </form>
      <p class="muted" role="status" id="console-status">
        {status}
      </p>
      <div class="columns">
        <div>
          <h2>Subscribe</h2>
          <form class="form-row" onSubmit={subscribe} aria-label="Subscribe">
            <label>
              Filter
              <input id="console-filter" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} required />
            </label>
            <label>
              QoS
              <select value={String(subQos)} onChange={(e) => setSubQos(Number((e.target as HTMLSelectElement).value))}>
                <option value="0">0</option>
                <option value="1">1</option>
                <option value="2">2</option>
              </select>
            </label>
            <button type="submit" disabled={!isConnected}>
              Subscribe
            </button>
          </form>
          <p class="muted" role="status" id="console-sub-status">
            {subStatus}
          </p>
          <ul class="chips">
            {subscribed.map((f) => (
              <li key={f}>
                <code>{f}</code>{' '}
                <button type="button" aria-label={`Unsubscribe ${f}`} onClick={() => unsubscribe(f)}>
                  ×
                </button>
              </li>
            ))}
          </ul>
          <ol class="messages" id="console-messages" aria-live="polite">
            {messages.map((m) => (
              <li key={m.n}>
                <div class="muted">
                  {m.at} · <code>{m.topic}</code> · QoS {m.qos}
                  {m.retain ? ' · retained' : ''} · {bytes(m.size)}
                </div>
                <pre>{m.payload}</pre>
              </li>
            ))}
          </ol>
        </div>
        <div>
          <h2>Publish</h2>
          <form class="stack" onSubmit={publish} aria-label="Publish">
            <label>
              Topic
              <input id="console-pub-topic" value={pub.topic} onInput={(e) => setPub({ ...pub, topic: (e.target as HTMLInputElement).value })} required />
            </label>
            <label>
              Payload
              <textarea id="console-pub-payload" rows={4} value={pub.payload} onInput={(e) => setPub({ ...pub, payload: (e.target as HTMLTextAreaElement).value })} />
            </label>
            <div class="form-row">
              <label>
                QoS
                <select id="console-pub-qos" value={String(pub.qos)} onChange={(e) => setPub({ ...pub, qos: Number((e.target as HTMLSelectElement).value) })}>
                  <option value="0">0</option>
                  <option value="1">1</option>
                  <option value="2">2</option>
                </select>
              </label>
              <label class="check">
                <input type="checkbox" checked={pub.retain} onChange={(e) => setPub({ ...pub, retain: (e.target as HTMLInputElement).checked })} /> Retain
              </label>
            </div>
            <details>
              <summary>MQTT 5 properties</summary>
              <label>
                Content type
                <input value={pub.contentType} onInput={(e) => setPub({ ...pub, contentType: (e.target as HTMLInputElement).value })} />
              </label>
              <label>
                Response topic
                <input value={pub.responseTopic} onInput={(e) => setPub({ ...pub, responseTopic: (e.target as HTMLInputElement).value })} />
              </label>
              <label>
                Message expiry (seconds)
                <input inputMode="numeric" value={pub.expiry} onInput={(e) => setPub({ ...pub, expiry: (e.target as HTMLInputElement).value })} />
              </label>
              <label>
                User properties (one key=value a line)
                <textarea rows={3} value={pub.userProperties} onInput={(e) => setPub({ ...pub, userProperties: (e.target as HTMLTextAreaElement).value })} />
              </label>
            </details>
            <button type="submit" disabled={!isConnected}>
              Publish
            </button>
            <p class="muted" role="status" id="console-pub-status">
              {pubStatus}
            </p>
          </form>
        </div>
      </div>
    </section>
  );
}
