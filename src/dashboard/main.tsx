/**
 * The Midge dashboard: a login form when the admin API wants a token, then the views, one per
 * #/hash route. Live figures come from the stats stream, started once at login so the charts
 * keep their 15 minutes while the operator moves between views.
 */
import { render, type FunctionComponent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { checkToken, currentToken, followStats, onUnauthorized, setToken, type StatsSample } from './api.js';
import './style.css';
import { BridgesView } from './views/bridges.js';
import { ClientsView } from './views/clients.js';
import { ConsoleView } from './views/console.js';
import { OverviewView } from './views/overview.js';
import { RetainedView } from './views/retained.js';
import { TopicsView } from './views/topics.js';
import { ErrorLine } from './ui.js';

const VIEWS = [
  { id: 'overview', label: 'Overview' },
  { id: 'clients', label: 'Clients' },
  { id: 'sessions', label: 'Sessions' },
  { id: 'topics', label: 'Topics' },
  { id: 'retained', label: 'Retained' },
  { id: 'bridges', label: 'Bridges' },
  { id: 'console', label: 'Console' },
  { id: 'users', label: 'Users' },
] as const;
type ViewId = (typeof VIEWS)[number]['id'];

const HISTORY_SAMPLES = 900;

function currentView(): ViewId {
  const id = location.hash.replace(/^#\/?/, '');
  return (VIEWS.find((v) => v.id === id)?.id ?? 'overview') as ViewId;
}

/** The Users view, fetched as its own chunk when first opened (rarely used: not in the first view). */
function LazyUsersView() {
  const [view, setView] = useState<{ Component: FunctionComponent } | { error: string } | undefined>(undefined);
  useEffect(() => {
    import('./views/users.js').then(
      (module) => setView({ Component: module.UsersView }),
      () => setView({ error: 'The Users view could not be loaded; reload the page.' }),
    );
  }, []);
  if (view === undefined) return <p class="muted">Loading…</p>;
  if ('error' in view) return <ErrorLine error={view.error} />;
  return <view.Component />;
}

function Login({ onLogin, message }: { onLogin: () => void; message: string | undefined }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | undefined>(message);
  const [isBusy, setBusy] = useState(false);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    try {
      if (await checkToken(value)) {
        setToken(value);
        onLogin();
      } else {
        setError('That token was refused.');
      }
    } catch {
      setError('The broker cannot be reached.');
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="login-title" id="login-form">
        <h1 id="login-title">Midge</h1>
        <p class="muted">This broker's admin API needs its token (the <code>http.token</code> setting).</p>
        <label>
          Admin token
          <input type="password" id="login-token" autocomplete="current-password" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} required autofocus />
        </label>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" disabled={isBusy}>
          Sign in
        </button>
      </form>
    </main>
  );
}

function Shell({ onLogout, canLogout }: { onLogout: () => void; canLogout: boolean }) {
  const [view, setView] = useState<ViewId>(currentView());
  const [samples, setSamples] = useState<StatsSample[]>([]);
  useEffect(() => {
    const onHash = (): void => setView(currentView());
    addEventListener('hashchange', onHash);
    // Keys 1–8 switch views when no field has the focus.
    const onKey = (event: KeyboardEvent): void => {
      const target = event.target as HTMLElement;
      if (event.altKey || event.ctrlKey || event.metaKey || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
      const index = Number(event.key) - 1;
      if (index >= 0 && index < VIEWS.length) location.hash = `#/${VIEWS[index]!.id}`;
    };
    addEventListener('keydown', onKey);
    const stop = followStats(
      (history) => setSamples(history.slice(-HISTORY_SAMPLES)),
      (sample) => setSamples((list) => [...list.slice(-(HISTORY_SAMPLES - 1)), sample]),
    );
    return () => {
      removeEventListener('hashchange', onHash);
      removeEventListener('keydown', onKey);
      stop();
    };
  }, []);
  useEffect(() => {
    document.title = `${VIEWS.find((v) => v.id === view)!.label} · Midge`;
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [view]);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Midge</span>
        <nav aria-label="Views">
          {VIEWS.map((v, i) => (
            <a key={v.id} href={`#/${v.id}`} aria-current={view === v.id ? 'page' : undefined} title={`${v.label} (key ${i + 1})`}>
              {v.label}
            </a>
          ))}
        </nav>
        {canLogout ? (
          <button type="button" class="link" onClick={onLogout}>
            Sign out
          </button>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {view === 'overview' ? <OverviewView samples={samples} /> : null}
        {view === 'clients' ? <ClientsView mode="clients" /> : null}
        {view === 'sessions' ? <ClientsView mode="sessions" /> : null}
        {view === 'topics' ? <TopicsView /> : null}
        {view === 'retained' ? <RetainedView /> : null}
        {view === 'bridges' ? <BridgesView /> : null}
        {view === 'console' ? <ConsoleView /> : null}
        {view === 'users' ? <LazyUsersView /> : null}
      </main>
    </>
  );
}

function App() {
  const [state, setState] = useState<'checking' | 'login' | 'in'>('checking');
  const [message, setMessage] = useState<string | undefined>(undefined);
  const [needsToken, setNeedsToken] = useState(true);
  useEffect(() => {
    // No token stored: maybe the API needs none (loopback without http.token).
    const stored = currentToken();
    checkToken(stored).then(
      (ok) => {
        if (ok) {
          setNeedsToken(stored !== null);
          setState('in');
        } else {
          setToken(null);
          setState('login');
        }
      },
      () => {
        setMessage('The broker cannot be reached.');
        setState('login');
      },
    );
    return onUnauthorized(() => {
      setToken(null);
      setMessage('The token was refused; sign in again.');
      setState('login');
    });
  }, []);
  if (state === 'checking') return <p class="muted center">Connecting…</p>;
  if (state === 'login') return <Login message={message} onLogin={() => { setNeedsToken(true); setMessage(undefined); setState('in'); }} />;
  return (
    <Shell
      canLogout={needsToken}
      onLogout={() => {
        setToken(null);
        setState('login');
      }}
    />
  );
}

render(<App />, document.getElementById('app')!);
