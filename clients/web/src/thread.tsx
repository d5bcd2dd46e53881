import { useEffect, useState } from 'react';
import type { Status } from '../../../shared/protocol/types';
import { Avatar } from './avatar';
import { Composer } from './composer';
import { Icon } from './icons';
import type { ThreadSnapshot } from './model';
import { PostView } from './post';
import { HOME_HREF } from './route';

/**
 * The page of one thread (`#/status/<id>`): its root, a reply box, then the
 * replies oldest first, live. When the address names a reply, that reply is
 * marked and scrolled to, and the reply box answers it.
 */
export function ThreadPage({
  me,
  thread,
  focusRequest,
  onReply,
}: {
  me: string;
  thread: ThreadSnapshot;
  /** Set when the page was opened by a Reply: the reply box takes the focus. */
  focusRequest: number | undefined;
  onReply: (text: string, replyTo: string) => Promise<unknown>;
}) {
  // The page is keyed by the status it shows: this starts afresh for each.
  const [target, setTarget] = useState({ id: thread.focus, focus: focusRequest });
  const pick = (status: Status) => setTarget((current) => ({ id: status.id, focus: (current.focus ?? 0) + 1 }));
  const answering = [thread.post, ...thread.replies].find((post) => post?.status.id === target.id)?.status;
  const ready = !thread.loading;

  // A linked reply is brought into view below the sticky header (scroll-margin in styles.css), once it is there.
  const focusShown = thread.replies.some((reply) => reply.status.id === thread.focus);
  useEffect(() => {
    if (focusShown) document.querySelector(`[data-status-id="${thread.focus}"]`)?.scrollIntoView({ block: 'start' });
  }, [focusShown, thread.focus]);

  return (
    <section className="thread-page" aria-labelledby="thread-title">
      <div className="page-head">
        <a className="back" href={HOME_HREF} aria-label="Back to the feed">
          <Icon name="back" />
        </a>
        <h2 id="thread-title">Thread</h2>
      </div>
      {thread.missing ? (
        <p className="feed-note">This status does not exist, or is no longer there.</p>
      ) : thread.post ? (
        <PostView post={thread.post} variant="focus" onReply={pick} />
      ) : ready ? (
        <p className="feed-note">The status this thread answers is no longer there.</p>
      ) : (
        <p className="feed-note loading" role="status">
          <span className="spinner" aria-hidden="true" />
          Loading the thread…
        </p>
      )}
      {thread.root !== undefined && !thread.missing && (
        <div className="compose">
          <Avatar user={me} />
          <Composer
            key={target.id}
            focusRequest={target.focus}
            label={answering ? `Reply to ${answering.author}` : 'Reply'}
            hideLabel
            submitLabel="Reply"
            onSubmit={(text) => onReply(text, target.id)}
          />
        </div>
      )}
      {thread.replies.length > 0 && (
        <ol className="replies thread-replies" aria-label="Replies">
          {thread.replies.map((reply) => (
            <li key={reply.status.id}>
              <PostView post={reply} under={thread.root} highlighted={reply.status.id === thread.focus} onReply={pick} />
            </li>
          ))}
        </ol>
      )}
      {ready && thread.post && thread.replies.length === 0 && <p className="feed-note">No replies yet.</p>}
    </section>
  );
}
