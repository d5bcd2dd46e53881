import { useState, type SubmitEvent } from 'react';
import { messageOf } from './errors';
import { devToken, userOf, USER_ID, type AppConfig, type Session } from './session';

/** Locally: pick any user id and get a dev token. Deployed: paste a token from your identity provider. */
export function SignIn({ config, onSignIn }: { config: AppConfig; onSignIn: (session: Session) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      if (config.devTokens) {
        const user = value.trim();
        if (!USER_ID.test(user)) throw new Error('use 1 to 64 letters, digits, - or _');
        onSignIn({ user, token: await devToken(user) });
      } else {
        const token = value.trim();
        onSignIn({ user: userOf(token), token });
      }
    } catch (failure) {
      setError(messageOf(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="centered sign-in">
      <h1>Updraft</h1>
      <p>What your friends are up to, as it happens.</p>
      <form onSubmit={(event) => void submit(event)}>
        {config.devTokens ? (
          <>
            <label htmlFor="user">Your user id</label>
            <input id="user" name="user" autoFocus autoComplete="username" value={value} onChange={(e) => setValue(e.target.value)} placeholder="alice" />
            <p className="hint">The local stack signs you in as anyone: open a second window as someone else.</p>
          </>
        ) : (
          <>
            <label htmlFor="token">Your access token (JWT)</label>
            <textarea id="token" name="token" autoFocus rows={4} value={value} onChange={(e) => setValue(e.target.value)} />
            <p className="hint">A token from your identity provider, whose subject is your user id.</p>
          </>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy || value.trim() === ''}>
          Sign in
        </button>
      </form>
    </main>
  );
}
