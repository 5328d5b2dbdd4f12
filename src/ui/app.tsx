import { useEffect, useMemo, useState } from 'preact/hooks';
import type { DashboardClient, Whoami } from '../client/index.js';
import { SessionContext, sessionOf, useSession } from './context.js';
import { hrefOf, useRoute, type Route } from './router.js';
import { clearKey, clientFor, storedKey, storeKey } from './session.js';
import { ApprovalsPage } from './pages/approvals.js';
import { RunPage } from './pages/run.js';
import { RunsPage } from './pages/runs.js';
import { SignIn } from './pages/sign-in.js';
import { SkillsPage } from './pages/skills.js';
import { WorkersPage } from './pages/workers.js';

type SignedIn = { client: DashboardClient; who: Whoami };

/** Signs in with the session's key (or none, when the server's auth is open), else shows the sign-in. */
export function App() {
  const [state, setState] = useState<SignedIn | 'checking' | null>('checking');
  const [error, setError] = useState<unknown>(undefined);

  const tryKey = async (key: string | null, remember: boolean): Promise<void> => {
    const client = clientFor(key);
    try {
      const who = await client.whoami();
      if (remember && key !== null) storeKey(key);
      setError(undefined);
      setState({ client, who });
    } catch (err) {
      if (key !== null && !remember) clearKey();
      // No key against a server with keys is simply "not signed in yet".
      setError(key === null ? undefined : err);
      setState(null);
    }
  };

  useEffect(() => {
    void tryKey(storedKey(), false);
  }, []);

  if (state === 'checking')
    return (
      <p role="status" class="muted center">
        Checking the session…
      </p>
    );
  if (state === null) return <SignIn onSubmit={(key) => tryKey(key, true)} error={error} />;
  return (
    <Shell
      signedIn={state}
      onSignOut={() => {
        clearKey();
        setError(undefined);
        setState(null);
      }}
    />
  );
}

const NAV: { route: Route; label: string }[] = [
  { route: { page: 'runs' }, label: 'Runs' },
  { route: { page: 'approvals' }, label: 'Approvals' },
  { route: { page: 'skills' }, label: 'Skills' },
  { route: { page: 'workers' }, label: 'Workers' },
];

function Shell({ signedIn, onSignOut }: { signedIn: SignedIn; onSignOut: () => void }) {
  const session = useMemo(() => sessionOf(signedIn.client, signedIn.who), [signedIn]);
  const route = useRoute();
  const current = route.page === 'run' ? 'runs' : route.page;
  useEffect(() => {
    document.title = `${NAV.find((n) => n.route.page === current)?.label ?? 'Runs'} · skillplane`;
  }, [current]);
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">skillplane</span>
        <nav aria-label="Pages">
          <ul>
            {NAV.map((n) => (
              <li key={n.label}>
                <a href={hrefOf(n.route)} aria-current={n.route.page === current ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          <span class="muted">Signed in as</span> <strong>{signedIn.who.principal}</strong>
          {signedIn.who.open ? null : (
            <button type="button" class="link" onClick={onSignOut}>
              Sign out
            </button>
          )}
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </SessionContext.Provider>
  );
}

function Page({ route }: { route: Route }) {
  useSession();
  switch (route.page) {
    case 'run':
      return <RunPage id={route.id} />;
    case 'approvals':
      return <ApprovalsPage />;
    case 'skills':
      return <SkillsPage />;
    case 'workers':
      return <WorkersPage />;
    default:
      return <RunsPage />;
  }
}
