import { useId, useState, type SubmitEvent } from 'react';
import type { Notification, Presence } from '../../../shared/protocol/types';
import { Avatar } from './avatar';
import { messageOf } from './errors';
import { statusHref } from './route';
import { USER_ID } from './session';
import { useClock } from './clock';
import { ago, fullTime } from './format';
import { TimeAgo } from './time-ago';

/** Replies to me and new followers, newest first; those newer than the read mark are unread. */
export function Inbox({
  notifications,
  unread,
  readUpTo,
  onRead,
}: {
  notifications: readonly Notification[];
  unread: number;
  /** Notifications up to this id are read. */
  readUpTo: string;
  onRead: () => void;
}) {
  return (
    <section className="panel inbox" aria-labelledby="inbox-title">
      <div className="panel-head">
        <h2 id="inbox-title" tabIndex={-1}>
          Notifications{' '}
          {unread > 0 && (
            <span className="unread" aria-label={`${unread} unread`}>
              {unread}
            </span>
          )}
        </h2>
        {unread > 0 && (
          <button type="button" className="quiet" onClick={onRead}>
            Mark read
          </button>
        )}
      </div>
      {notifications.length === 0 ? (
        <p className="empty">Replies to you and new followers show here.</p>
      ) : (
        <ol className="notifications">
          {notifications.map((n) => (
            <li key={n.id} className={n.id > readUpTo ? 'notification new' : 'notification'}>
              <Avatar user={n.from} size="small" />
              <div className="notification-body">
                <p>
                  <strong>{n.from}</strong> {n.kind === 'follow' || !n.status ? 'followed you' : 'replied to you'}
                  <span className="dot-sep" aria-hidden="true">
                    {' '}
                    ·{' '}
                  </span>
                  <TimeAgo iso={n.at} />
                  {n.id > readUpTo && <span className="visually-hidden"> (unread)</span>}
                </p>
                {n.kind === 'reply' && n.status && (
                  <a className="quote" href={statusHref(n.status.id)}>
                    {n.status.text}
                  </a>
                )}
              </div>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

export function FollowPanel({
  me,
  following,
  loaded,
  presence,
  onFollow,
  onUnfollow,
}: {
  me: string;
  following: readonly string[];
  /** False until the server has said whom I follow: until then an empty list means nothing. */
  loaded: boolean;
  presence: ReadonlyMap<string, Presence>;
  onFollow: (user: string) => Promise<void>;
  onUnfollow: (user: string) => Promise<void>;
}) {
  const id = useId();
  const [user, setUser] = useState('');
  const [error, setError] = useState<string>();

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const name = user.trim();
    setError(undefined);
    if (!USER_ID.test(name)) {
      setError('use 1 to 64 letters, digits, - or _');
      return;
    }
    if (name === me) {
      setError('you cannot follow yourself');
      return;
    }
    try {
      await onFollow(name);
      setUser('');
    } catch (failure) {
      setError(messageOf(failure));
    }
  };

  return (
    <section className="panel following" aria-labelledby="following-title">
      <h2 id="following-title">Following</h2>
      <form onSubmit={(event) => void submit(event)} className="follow-form">
        <label htmlFor={id}>Follow someone</label>
        <div className="inline">
          <input id={id} value={user} onChange={(e) => setUser(e.target.value)} placeholder="user id" autoComplete="off" />
          <button type="submit" disabled={user.trim() === ''}>
            Follow
          </button>
        </div>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
      </form>
      {!loaded && following.length === 0 ? (
        <p className="loading" role="status">
          Loading whom you follow…
        </p>
      ) : following.length === 0 ? (
        <p className="empty">You follow no one yet.</p>
      ) : (
        <ul className="people">
          {following.map((name) => {
            const seen = presence.get(name);
            const state = seen?.online ? 'online' : 'offline';
            return (
              <li key={name}>
                <span className="avatar-with-dot">
                  <Avatar user={name} size="small" />
                  <span className={`dot ${state}`} aria-hidden="true" />
                </span>
                <span className="person">
                  <span className="name">{name}</span>
                  <span className="presence">{seen?.online ? 'online' : seen?.lastSeen ? <LastSeen iso={seen.lastSeen} /> : 'offline'}</span>
                </span>
                <button type="button" className="quiet" onClick={() => void onUnfollow(name).catch((e: unknown) => setError(messageOf(e)))}>
                  Unfollow <span className="visually-hidden">{name}</span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

/** "seen just now", "seen 5 min ago", "seen Mar 12"; it moves on by itself, as every relative time does. */
function LastSeen({ iso }: { iso: string }) {
  const label = ago(iso, useClock());
  const words = label === 'now' ? 'just now' : /\d (min|h)$/.test(label) ? `${label} ago` : label;
  return (
    <time dateTime={iso} title={fullTime(iso)}>
      seen {words}
    </time>
  );
}
