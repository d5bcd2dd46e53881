import { useId, useState, type SubmitEvent } from 'react';
import type { Notification, Presence, Status } from '../../../shared/protocol/types';
import { Composer } from './composer';
import { messageOf } from './errors';
import type { Snapshot } from './model';
import { USER_ID } from './session';
import { ago, StatusCard } from './status-list';

export function ThreadView({
  thread,
  replyTo,
  focusRequest,
  onReply,
  onPick,
  onClose,
}: {
  thread: NonNullable<Snapshot['thread']>;
  replyTo: string;
  /** Changes each time a "Reply" is clicked: the reply box takes the focus again, even if it already answers that status. */
  focusRequest: number;
  onReply: (text: string, replyTo: string) => Promise<unknown>;
  onPick: (status: Status) => void;
  onClose: () => void;
}) {
  const answering = thread.status?.id === replyTo ? thread.status : thread.replies.find((s) => s.id === replyTo);
  return (
    <section className="panel thread" aria-labelledby="thread-title">
      <div className="panel-head">
        <h2 id="thread-title">Thread</h2>
        <button type="button" className="quiet" onClick={onClose}>
          Close thread
        </button>
      </div>
      {thread.status ? <StatusCard status={thread.status} onReply={onPick} /> : <p className="empty">The status this thread answers.</p>}
      <ol className="statuses replies" aria-label="Replies">
        {thread.replies.map((status) => (
          <li key={status.id}>
            <StatusCard status={status} onReply={onPick} />
          </li>
        ))}
      </ol>
      <Composer
        key={replyTo}
        focusRequest={focusRequest}
        label={answering ? `Reply to ${answering.author}` : 'Reply'}
        submitLabel="Reply"
        onSubmit={(text) => onReply(text, replyTo)}
      />
    </section>
  );
}

export function Inbox({
  notifications,
  unread,
  onRead,
  onOpen,
}: {
  notifications: readonly Notification[];
  unread: number;
  onRead: () => void;
  onOpen: (status: Status) => void;
}) {
  return (
    <section className="panel inbox" aria-labelledby="inbox-title">
      <div className="panel-head">
        <h2 id="inbox-title">
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
            <li key={n.id} className="notification">
              {n.kind === 'follow' ? (
                <span>
                  <strong>{n.from}</strong> followed you
                </span>
              ) : (
                <span>
                  <strong>{n.from}</strong> replied: “{n.status?.text}”{' '}
                  {n.status && <OpenThread status={n.status} onOpen={onOpen} />}
                </span>
              )}{' '}
              <time dateTime={n.at}>{ago(n.at)}</time>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** A button with its status in hand: a closure over `n.status` would lose what the check above it knows. */
function OpenThread({ status, onOpen }: { status: Status; onOpen: (status: Status) => void }) {
  return (
    <button type="button" className="link" onClick={() => onOpen(status)}>
      Open thread
    </button>
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
                <span className={`dot ${state}`} aria-hidden="true" />
                <span className="name">{name}</span>
                <span className="presence">{seen?.online ? 'online' : seen?.lastSeen ? `seen ${ago(seen.lastSeen)} ago` : 'offline'}</span>
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
