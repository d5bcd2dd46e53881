import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { UpdraftClient, type StateChange } from '../../../shared/client';
import { Composer } from './composer';
import { AppModel } from './model';
import { devToken, type AppConfig, type Session } from './session';
import { StatusList } from './status-list';
import { FollowPanel, Inbox, ThreadView } from './panels';

const LABELS: Record<StateChange['state'], string> = {
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
    model.start().catch((error) => model.fail(error));
    return () => model.stop();
  }, [model]);
  const view = useSyncExternalStore(model.subscribe, model.snapshot);
  const [replyTo, setReplyTo] = useState<string>();
  const announcement = useAnnouncement(view.feed[0]?.id, view.feed[0]?.author, view.unread);

  const openThread = (root: string, reply?: string) => {
    setReplyTo(reply);
    model.showThread(root).catch((error) => model.fail(error));
  };

  return (
    <div className="app">
      <header>
        <h1>Updraft</h1>
        <ConnectionBadge connection={view.connection} />
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
      {!config.devTokens && view.connection.state === 'reconnecting' && (view.connection.attempt ?? 0) >= 3 && (
        <div className="problem" role="alert">
          Still cannot connect. If your token has expired, sign out and sign in with a new one.
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
            empty="Nothing here yet. Follow someone, or post the first status."
            onReply={(status) => openThread(status.thread ?? status.id, status.id)}
          />
        </main>
        <aside>
          {view.thread && (
            <ThreadView
              thread={view.thread}
              replyTo={replyTo ?? view.thread.root}
              onReply={(text, to) => model.post(text, to)}
              onPick={(status) => setReplyTo(status.id)}
              onClose={() => {
                setReplyTo(undefined);
                model.closeThread().catch((error) => model.fail(error));
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

function ConnectionBadge({ connection }: { connection: StateChange }) {
  const detail =
    connection.state === 'reconnecting' && connection.delayMs !== undefined
      ? ` (attempt ${connection.attempt ?? 1}, next in ${Math.ceil(connection.delayMs / 1000)} s)`
      : '';
  return (
    <span className={`badge ${connection.state}`} role="status" aria-live="polite" data-state={connection.state}>
      {LABELS[connection.state]}
      {detail}
    </span>
  );
}
