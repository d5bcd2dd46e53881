import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { ConnectionState, UpdraftClient, type StateChange } from '../../../shared/client';
import { Composer } from './composer';
import { AppModel } from './model';
import { devToken, type AppConfig, type Session } from './session';
import { StatusList } from './status-list';
import { FollowPanel, Inbox, ThreadView } from './panels';

const LABELS: Record<ConnectionState, string> = {
  idle: 'Starting',
  connecting: 'Connecting…',
  'catching-up': 'Catching up…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Signed out',
};

export function Home({ config, session, onSignOut }: { config: AppConfig; session: Session; onSignOut: () => void }) {
  const model = useMemo(
    () =>
      new AppModel(
        new UpdraftClient({
          url: config.wsUrl,
          // Locally a fresh dev token per connection; deployed, the one the user gave.
          token: config.devTokens ? () => devToken(session.user) : session.token,
        }),
        session.user,
      ),
    [config, session],
  );
  useEffect(() => {
    model.start().catch((error: unknown) => {
      model.fail(error);
    });
    return () => {
      model.stop();
    };
  }, [model]);
  const view = useSyncExternalStore(model.subscribe, model.snapshot);
  const [replyTo, setReplyTo] = useState<string>();
  // Bumped by every "Reply": the reply box takes the focus even when it already answers that status.
  const [replyFocus, setReplyFocus] = useState(0);
  const announcement = useAnnouncement(view.feed[0]?.id, view.feed[0]?.author, view.unread);

  const openThread = (root: string, reply?: string) => {
    setReplyTo(reply);
    setReplyFocus((n) => n + 1);
    model.showThread(root).catch((error: unknown) => {
      model.fail(error);
    });
  };

  return (
    <div className="app">
      <header>
        <h1>Updraft</h1>
        <ConnectionBadge connection={view.connection} onRetry={() => model.reconnectNow()} />
        <span className="me">
          Signed in as <strong>{view.me}</strong>
        </span>
        <button type="button" className="quiet" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <p className="visually-hidden" role="log" aria-live="polite">
        {announcement}
      </p>
      {!config.devTokens && view.connection.state === ConnectionState.Reconnecting && (view.connection.attempt ?? 0) >= 3 && (
        <div className="problem" role="alert">
          Still cannot connect. If your token has expired, sign out and sign in with a new one.
        </div>
      )}
      {view.catchingUp && (
        <div className="catching-up" role="status" aria-live="polite">
          {view.catchingUp}…
        </div>
      )}
      {view.problem && (
        <div className="problem" role="alert">
          {view.problem}{' '}
          <button type="button" className="quiet" onClick={() => model.dismissProblem()}>
            Dismiss
          </button>
        </div>
      )}
      <div className="layout">
        <main aria-labelledby="feed-title">
          <h2 id="feed-title">Home</h2>
          <Composer label="What's happening?" submitLabel="Post" onSubmit={(text) => model.post(text)} />
          <StatusList
            statuses={view.feed}
            empty={view.feedLoaded ? 'Nothing here yet. Follow someone, or post the first status.' : undefined}
            onReply={(status) => openThread(status.thread ?? status.id, status.id)}
          />
        </main>
        <aside>
          {view.thread && (
            <ThreadView
              thread={view.thread}
              replyTo={replyTo ?? view.thread.root}
              focusRequest={replyFocus}
              onReply={(text, to) => model.post(text, to)}
              onPick={(status) => {
                setReplyTo(status.id);
                setReplyFocus((n) => n + 1);
              }}
              onClose={() => {
                setReplyTo(undefined);
                model.closeThread().catch((error: unknown) => {
                  model.fail(error);
                });
              }}
            />
          )}
          <Inbox
            notifications={view.inbox}
            unread={view.unread}
            onRead={() => model.markRead()}
            onOpen={(status) => openThread(status.thread ?? status.id, status.id)}
          />
          <FollowPanel
            me={view.me}
            following={view.following}
            loaded={view.followingLoaded}
            presence={view.presence}
            onFollow={(user) => model.follow(user)}
            onUnfollow={(user) => model.unfollow(user)}
          />
        </aside>
      </div>
    </div>
  );
}

/**
 * One short line for screen readers when something new arrives, instead of
 * live regions over whole lists (which would read out every re-render).
 */
function useAnnouncement(newestId: string | undefined, author: string | undefined, unread: number): string {
  const [text, setText] = useState('');
  const last = useRef({ newestId, unread });
  useEffect(() => {
    const before = last.current;
    last.current = { newestId, unread };
    if (before.newestId !== undefined && newestId !== undefined && newestId > before.newestId && author) setText(`New status from ${author}`);
    else if (unread > before.unread) setText(`${unread} unread notification${unread === 1 ? '' : 's'}`);
  }, [newestId, author, unread]);
  return text;
}

/**
 * The connection's state, and while reconnecting a countdown to the next
 * attempt (each second) with a way to try at once. The live region holds the
 * state only: a screen reader hears "Reconnecting…" once, not every second.
 */
function ConnectionBadge({ connection, onRetry }: { connection: StateChange; onRetry: () => void }) {
  const waitingUntil = connection.state === ConnectionState.Reconnecting ? connection.nextAttemptAt : undefined;
  const now = useNow(waitingUntil);
  let detail = '';
  if (connection.state === ConnectionState.Reconnecting) {
    const attempt = `attempt ${connection.attempt ?? 1}`;
    detail = waitingUntil === undefined ? `${attempt}, trying now` : `${attempt}, next in ${Math.max(0, Math.ceil((waitingUntil - now) / 1000))} s`;
  }
  return (
    <span className="connection">
      <span className={`badge ${connection.state}`} role="status" aria-live="polite" data-state={connection.state}>
        {LABELS[connection.state]}
      </span>
      {detail && <span className="countdown">({detail})</span>}
      {waitingUntil !== undefined && (
        <button type="button" className="quiet" onClick={onRetry}>
          Retry now
        </button>
      )}
    </span>
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
