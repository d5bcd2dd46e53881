import { useEffect, useState } from 'react';
import { messageOf } from './errors';
import { Home } from './home';
import { loadConfig, saveSession, savedSession, type AppConfig, type Session } from './session';
import { SignIn } from './sign-in';

export function App() {
  const [config, setConfig] = useState<AppConfig>();
  const [failure, setFailure] = useState<string>();
  const [session, setSession] = useState<Session | undefined>(savedSession);

  useEffect(() => {
    loadConfig().then(setConfig, (error: unknown) => {
      setFailure(messageOf(error));
    });
  }, []);

  const signIn = (next: Session | undefined) => {
    saveSession(next);
    setSession(next);
  };

  if (failure) return <main className="centered" role="alert">Updraft could not start: {failure}</main>;
  if (!config) return <main className="centered">Loading…</main>;
  if (!session) return <SignIn config={config} onSignIn={signIn} />;
  return <Home key={session.user} config={config} session={session} onSignOut={() => signIn(undefined)} />;
}
