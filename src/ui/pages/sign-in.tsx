import { useState } from 'preact/hooks';
import { ErrorNote } from '../components/common.js';

/** The only thing shown without a valid key: one field for the API key. */
export function SignIn({ onSubmit, error }: { onSubmit: (key: string) => Promise<void>; error: unknown }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <main id="main" class="sign-in">
      <h1>skillplane</h1>
      <form
        class="card"
        aria-labelledby="sign-in-title"
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          void onSubmit(key.trim()).finally(() => setBusy(false));
        }}
      >
        <h2 id="sign-in-title">Sign in</h2>
        <p class="muted">
          Use one of the server’s API keys. It is kept for this browser tab only (session storage).
        </p>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="current-password"
          required
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
        />
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={busy || key.trim() === ''}>
          Sign in
        </button>
      </form>
    </main>
  );
}
