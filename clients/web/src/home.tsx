import { useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore, type MouseEvent } from 'react';
import { ConnectionState, UpdraftClient } from '../../../shared/client';
import type { Status } from '../../../shared/protocol/types';
import { Avatar } from './avatar';
import { Composer } from './composer';
import { Feed } from './feed';
import { AppHeader, ReconnectBar } from './header';
import { AppModel } from './model';
import { FollowPanel, Inbox } from './panels';
import { parseRoute, statusHref, useHash } from './route';
import { devToken, type AppConfig, type Session } from './session';
import { TabBar } from './tab-bar';
import { ThreadPage } from './thread';

export function Home({ config, session, onSignOut }: { config: AppConfig; session: Session; onSignOut: () => void }) {
  const model = useMemo(
    () =>
      new AppModel(
        new UpdraftClient({
          url: config.wsUrl,
          // Locally a fresh dev token per connection; deployed, the one the user gave.
          token: config.devTokens ? () => devToken(session.user) : session.token,
          ...(config.reconnectMaxMs === undefined ? {} : { backoff: { maxMs: config.reconnectMaxMs } }),
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
  // The browser says the network is back: try at once rather than at the end of the backoff.
  useEffect(() => {
    const online = () => {
      model.reconnectNow();
    };
    window.addEventListener('online', online);
    return () => {
      window.removeEventListener('online', online);
    };
  }, [model]);
  const view = useSyncExternalStore(model.subscribe, model.snapshot);
  const route = parseRoute(useHash());
  const focusId = route.view === 'status' ? route.id : undefined;
  // A Reply asks for the reply box of the status it answers; a link to a status does not.
  const [replyFocus, setReplyFocus] = useState<{ readonly id: string; readonly n: number }>();
  const announcement = useAnnouncement(view.newest?.id, view.newest?.author, view.unread);
  useScrollPerView(focusId === undefined ? route.view : `status/${focusId}`);

  useEffect(() => {
    const opening = focusId === undefined ? model.closeThread() : model.showStatus(focusId);
    opening.catch((error: unknown) => {
      model.fail(error);
    });
  }, [model, focusId]);

  // The bell on a wide screen: the notifications are beside the feed; the focus goes there.
  useEffect(() => {
    if (route.view === 'notifications') document.getElementById('inbox-title')?.focus({ preventScroll: true });
  }, [route.view]);

  const reply = (status: Status) => {
    setReplyFocus((current) => ({ id: status.id, n: (current?.n ?? 0) + 1 }));
    window.location.hash = statusHref(status.id);
  };

  return (
    <div className="app" data-view={route.view}>
      <a className="skip-link" href="#sidebar" onClick={skipPastFeed}>
        Skip past the feed
      </a>
      <AppHeader me={view.me} connection={view.connection} unread={view.unread} onSignOut={onSignOut} />
      <ReconnectBar connection={view.connection} onRetry={() => model.reconnectNow()} />
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
          <span>{view.problem}</span>
          <button type="button" className="quiet" onClick={() => model.dismissProblem()}>
            Dismiss
          </button>
        </div>
      )}
      <div className="layout">
        <main id="content" aria-labelledby={view.thread ? 'thread-title' : 'feed-title'}>
          {view.thread && focusId !== undefined ? (
            <ThreadPage
              key={focusId}
              me={view.me}
              thread={view.thread}
              focusRequest={replyFocus?.id === focusId ? replyFocus.n : undefined}
              onReply={(text, to) => model.post(text, to)}
            />
          ) : (
            <>
              <h2 id="feed-title" className="page-title">
                Home
              </h2>
              <div className="compose">
                <Avatar user={view.me} />
                <Composer label="What's happening?" hideLabel submitLabel="Post" onSubmit={(text) => model.post(text)} />
              </div>
              <Feed entries={view.feed} state={view.feedState} onMore={model.loadMore} onReply={reply} />
            </>
          )}
        </main>
        <aside id="sidebar" tabIndex={-1} aria-label="Notifications and people">
          <Inbox notifications={view.inbox} unread={view.unread} readUpTo={view.readUpTo} onRead={() => model.markRead()} />
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
      <TabBar view={route.view} unread={view.unread} />
    </div>
  );
}

/** The skip link moves the focus, not the address: the hash is the app's route. On a phone the sidebar is a tab away: the tab bar takes the focus. */
function skipPastFeed(event: MouseEvent<HTMLAnchorElement>) {
  event.preventDefault();
  const sidebar = document.getElementById('sidebar');
  const target = sidebar && sidebar.offsetParent !== null ? sidebar : document.getElementById('tabs');
  target?.focus();
}

/**
 * Each view keeps its own scroll position: back from a thread, the feed is
 * where it was; a thread opens at its top.
 */
function useScrollPerView(key: string) {
  const positions = useRef(new Map<string, number>());
  const current = useRef(key);
  useEffect(() => {
    const remember = () => positions.current.set(current.current, window.scrollY);
    window.addEventListener('scroll', remember, { passive: true });
    return () => window.removeEventListener('scroll', remember);
  }, []);
  useLayoutEffect(() => {
    current.current = key;
    window.scrollTo(0, positions.current.get(key) ?? 0);
  }, [key]);
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
