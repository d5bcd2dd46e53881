import type { MouseEvent } from 'react';
import type { Status } from '../../../shared/protocol/types';
import { Avatar } from './avatar';
import { fullTime } from './format';
import { Icon } from './icons';
import type { Post } from './model';
import { RichText } from './rich-text';
import { statusHref } from './route';
import { TimeAgo } from './time-ago';

/**
 * One status: avatar, author, time (the status's address), whom it answers,
 * its text with links, and Reply with the thread's reply count.
 * `entry` is a feed entry's root, `reply` a reply under it (smaller, with
 * Reply beside its time, as comments have it), `focus` the status a thread
 * page is about (larger text).
 */
export function PostView({
  post,
  variant = 'entry',
  under,
  highlighted = false,
  onReply,
}: {
  post: Post;
  variant?: 'entry' | 'reply' | 'focus';
  /** The root this is shown under: a reply straight to it does not say "Replying to", its place says so. */
  under?: string;
  highlighted?: boolean;
  onReply?: (status: Status) => void;
}) {
  const { status, replyingTo } = post;
  const replyButton = onReply && <ReplyButton post={post} compact={variant === 'reply'} onReply={onReply} />;
  // A click on a status opens its thread, as in the apps people know; keyboard users have its time, a link to the same address.
  const open =
    variant === 'focus'
      ? undefined
      : (event: MouseEvent) => {
          if (event.defaultPrevented || (event.target as Element).closest('a, button, input, textarea') || window.getSelection()?.toString()) return;
          // A reply under its entry is the one meant, not the entry around it.
          event.preventDefault();
          window.location.hash = statusHref(status.id);
        };
  return (
    <article
      className={`status status-${variant}${highlighted ? ' highlighted' : ''}${open ? ' openable' : ''}`}
      data-status-id={status.id}
      aria-current={highlighted ? 'true' : undefined}
      onClick={open}
    >
      <Avatar user={status.author} size={variant === 'reply' ? 'small' : 'medium'} />
      <div className="status-body">
        <header>
          <strong className="author">{status.author}</strong>
          {variant !== 'focus' && (
            <>
              <span className="dot-sep" aria-hidden="true">
                ·
              </span>
              <TimeAgo iso={status.createdAt} href={statusHref(status.id)} />
            </>
          )}
          {variant === 'reply' && replyButton}
        </header>
        {status.replyTo !== undefined && status.replyTo !== under && (
          <p className="replying-to">
            Replying to <a href={statusHref(status.replyTo)}>{replyingTo === undefined ? 'a status' : `@${replyingTo}`}</a>
          </p>
        )}
        <p className="text">
          <RichText text={status.text} />
        </p>
        {/* The status a page is about: its time in full, as its address. */}
        {variant === 'focus' && (
          <a className="full-time" href={statusHref(status.id)}>
            <time dateTime={status.createdAt}>{fullTime(status.createdAt)}</time>
          </a>
        )}
        {variant !== 'reply' && replyButton && <div className="actions">{replyButton}</div>}
      </div>
    </article>
  );
}

/** Reply, with the thread's reply count on a root; the label says whom and what it answers. */
function ReplyButton({ post, compact, onReply }: { post: Post; compact: boolean; onReply: (status: Status) => void }) {
  const { status, replyCount } = post;
  const replies = replyCount === undefined || replyCount === 0 ? '' : ` (${replyCount} ${replyCount === 1 ? 'reply' : 'replies'})`;
  return (
    <button
      type="button"
      className={compact ? 'action compact' : 'action'}
      onClick={() => onReply(status)}
      aria-label={`Reply to ${status.author}: ${status.text.slice(0, 40)}${replies}`}
    >
      {compact ? (
        'Reply'
      ) : (
        <>
          <Icon name="reply" />
          {replyCount !== undefined && replyCount > 0 && <span className="action-count">{replyCount}</span>}
        </>
      )}
    </button>
  );
}
