import { useEffect, useState } from 'react';
import { ConnectionState, type StateChange } from '../../../shared/client';
import { Avatar } from './avatar';
import { Icon } from './icons';
import { HOME_HREF } from './route';

const LABELS: Record<ConnectionState, string> = {
  idle: 'Starting',
  connecting: 'Connecting…',
  'catching-up': 'Catching up…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Signed out',
};

/** One line at every width: the name, the connection, the bell, who is signed in. */
export function AppHeader({ me, connection, unread, onSignOut }: { me: string; connection: StateChange; unread: number; onSignOut: () => void }) {
  return (
    <header className="topbar">
      <div className="topbar-inner">
        <a className="brand" href={HOME_HREF}>
          <h1>Updraft</h1>
        </a>
        <span className={`badge ${connection.state}`} role="status" aria-live="polite" data-state={connection.state}>
          {LABELS[connection.state]}
        </span>
        <a className="bell" href="#/notifications" aria-label={unread > 0 ? `Notifications, ${unread} unread` : 'Notifications'}>
          <Icon name="bell" />
          {unread > 0 && (
            <span className="bell-count" aria-hidden="true">
              {unread > 99 ? '99+' : unread}
            </span>
          )}
        </a>
        <span className="me" title={`Signed in as ${me}`}>
          <Avatar user={me} size="small" />
          <span className="me-name">
            <span className="visually-hidden">Signed in as </span>
            {me}
          </span>
        </span>
        <button type="button" className="quiet sign-out" onClick={onSignOut}>
          Sign out
        </button>
      </div>
    </header>
  );
}

/**
 * While reconnecting: a countdown to the next attempt (each second) and a way
 * to try at once, in a bar of its own under the header, so the header keeps to
 * one line on a phone. The header's badge carries the state for screen
 * readers: they hear "Reconnecting…" once, not every second.
 */
export function ReconnectBar({ connection, onRetry }: { connection: StateChange; onRetry: () => void }) {
  const waitingUntil = connection.state === ConnectionState.Reconnecting ? connection.nextAttemptAt : undefined;
  const now = useNow(waitingUntil);
  if (connection.state !== ConnectionState.Reconnecting) return null;
  const attempt = `attempt ${connection.attempt ?? 1}`;
  const detail = waitingUntil === undefined ? `${attempt}, trying now` : `${attempt}, next in ${Math.max(0, Math.ceil((waitingUntil - now) / 1000))} s`;
  return (
    <div className="reconnect-bar">
      <span className="countdown">{detail.charAt(0).toUpperCase() + detail.slice(1)}</span>
      {waitingUntil !== undefined && (
        <button type="button" className="quiet" onClick={onRetry}>
          Retry now
        </button>
      )}
    </div>
  );
}

/** The time, renewed every second while counting down to `until`: enough for a countdown in whole seconds. */
function useNow(until: number | undefined): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (until === undefined) return;
    setNow(Date.now());
    const timer = setInterval(() => {
      setNow(Date.now());
    }, 1_000);
    return () => {
      clearInterval(timer);
    };
  }, [until]);
  return now;
}
