import type { Status } from '../../../shared/protocol/types';
import { Avatar } from './avatar';
import { Icon } from './icons';
import type { Post } from './model';
import { RichText } from './rich-text';
import { statusHref } from './route';
import { TimeAgo } from './time-ago';

/**
 * One status: avatar, author, time (the status's address), whom it answers,
 * its text with links, and Reply with the thread's reply count.
 * `entry` is a feed entry's root, `reply` a reply under it (smaller), `focus`
 * the status a thread page is about (larger text).
 */
export function PostView({
  post,
  variant = 'entry',
  highlighted = false,
  onReply,
}: {
  post: Post;
  variant?: 'entry' | 'reply' | 'focus';
  highlighted?: boolean;
  onReply?: (status: Status) => void;
}) {
  const { status, replyingTo, replyCount } = post;
  const replies = replyCount === undefined || replyCount === 0 ? '' : ` (${replyCount} ${replyCount === 1 ? 'reply' : 'replies'})`;
  return (
    <article className={`status ${variant}${highlighted ? ' highlighted' : ''}`} data-status-id={status.id} aria-current={highlighted ? 'true' : undefined}>
      <Avatar user={status.author} size={variant === 'reply' ? 'small' : 'medium'} />
      <div className="status-body">
        <header>
          <strong className="author">{status.author}</strong>
          <span className="dot-sep" aria-hidden="true">
            ·
          </span>
          <TimeAgo iso={status.createdAt} href={statusHref(status.id)} />
        </header>
        {status.replyTo !== undefined && (
          <p className="replying-to">
            Replying to <a href={statusHref(status.replyTo)}>{replyingTo === undefined ? 'a status' : `@${replyingTo}`}</a>
          </p>
        )}
        <p className="text">
          <RichText text={status.text} />
        </p>
        {onReply && (
          <div className="actions">
            <button type="button" className="action" onClick={() => onReply(status)} aria-label={`Reply to ${status.author}: ${status.text.slice(0, 40)}${replies}`}>
              <Icon name="reply" />
              <span className="action-label">Reply</span>
              {replyCount !== undefined && replyCount > 0 && <span className="action-count">{replyCount}</span>}
            </button>
          </div>
        )}
      </div>
    </article>
  );
}
