import { useEffect, useRef, useState, type MouseEvent } from 'react';
import type { Status } from '../../../shared/protocol/types';
import type { FeedEntry, FeedState } from './model';
import { PostView } from './post';
import { statusHref } from './route';

/** Replies shown under a feed entry before "N more": the latest, as FriendFeed showed them. */
export const REPLIES_SHOWN = 2;
/** The next page is asked for when the end of the feed comes within this distance of the screen, so it is often there before it is reached. */
const PREFETCH_MARGIN = '600px';

export function Feed({
  entries,
  state,
  onMore,
  onReply,
}: {
  entries: readonly FeedEntry[];
  state: FeedState;
  /** Asks for the next page: stable across renders (it starts an observer). */
  onMore: () => void;
  onReply: (status: Status) => void;
}) {
  if (state === 'loading') {
    return (
      <p className="feed-note loading" role="status">
        <span className="spinner" aria-hidden="true" />
        Loading your feed…
      </p>
    );
  }
  if (entries.length === 0 && state === 'end') {
    return (
      <div className="feed-empty">
        <p className="feed-empty-title">Welcome to Updraft</p>
        <p className="empty">Nothing here yet. Follow someone, or post the first status.</p>
        <a className="button" href="#/following" onClick={toFollowBox}>
          Find people to follow
        </a>
      </div>
    );
  }
  return (
    <>
      <ol className="feed" aria-label="Statuses">
        {entries.map((entry) => (
          <li key={entry.root}>
            <Entry entry={entry} onReply={onReply} />
          </li>
        ))}
      </ol>
      <FeedEnd state={state} onMore={onMore} />
    </>
  );
}

/** A thread's root with its latest replies under it, and the rest a click away. */
function Entry({ entry, onReply }: { entry: FeedEntry; onReply: (status: Status) => void }) {
  const [expanded, setExpanded] = useState(false);
  const { replies, replyCount } = entry;
  // Expanding in place works when every reply is held; otherwise the thread page has them.
  const allHeld = replies.length >= replyCount;
  const shown = expanded && allHeld ? replies : replies.slice(-REPLIES_SHOWN);
  const hidden = replyCount - shown.length;
  const more = `${hidden} ${shown.length === 0 ? '' : 'more '}${hidden === 1 ? 'reply' : 'replies'}`;
  return (
    <div className="entry">
      {entry.post ? (
        <PostView post={entry.post} onReply={onReply} />
      ) : (
        <p className="status placeholder">{entry.missing ? 'The status these replies answer is no longer there.' : 'Loading the status these replies answer…'}</p>
      )}
      {(hidden > 0 || shown.length > 0) && (
        <div className="entry-replies">
          {hidden > 0 &&
            (allHeld ? (
              <button type="button" className="more" onClick={() => setExpanded(true)}>
                {more}
              </button>
            ) : (
              <a className="more" href={statusHref(entry.root)}>
                {more}
              </a>
            ))}
          {shown.length > 0 && (
            <ol className="replies" aria-label={`Replies to ${entry.post?.status.author ?? 'this status'}`}>
              {shown.map((reply) => (
                <li key={reply.status.id}>
                  <PostView post={reply} variant="reply" under={entry.root} onReply={onReply} />
                </li>
              ))}
            </ol>
          )}
        </div>
      )}
    </div>
  );
}

/** The foot of the feed: watched, to load the next page; says so while it loads, and when there is no more. */
function FeedEnd({ state, onMore }: { state: FeedState; onMore: () => void }) {
  const foot = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = foot.current;
    if (state !== 'ready' || !element) return;
    // A new observer for each page: it reports at once if the foot is still in view (a tall screen).
    const observer = new IntersectionObserver(
      (seen) => {
        if (seen.some((each) => each.isIntersecting)) onMore();
      },
      { rootMargin: `0px 0px ${PREFETCH_MARGIN} 0px` },
    );
    observer.observe(element);
    return () => observer.disconnect();
  }, [state, onMore]);
  return (
    <div ref={foot} className="feed-end">
      <span role="status">
        {state === 'loading-more' && (
          <span className="loading-more">
            <span className="spinner" aria-hidden="true" />
            Loading more…
          </span>
        )}
        {state === 'end' && <span className="caught-up">You’re all caught up</span>}
      </span>
      {state === 'more-failed' && (
        <button type="button" className="quiet" onClick={onMore}>
          Could not load more. Try again
        </button>
      )}
    </div>
  );
}

/** On a wide screen the follow box is beside the feed: the focus goes there. On a phone the link opens the Following tab. */
function toFollowBox(event: MouseEvent<HTMLAnchorElement>) {
  const box = document.querySelector<HTMLInputElement>('.follow-form input');
  if (box?.offsetParent == null) return;
  event.preventDefault();
  box.focus();
}
