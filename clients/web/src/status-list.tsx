import type { Status } from '../../../shared/protocol/types';

export function StatusList({
  statuses,
  empty,
  onReply,
  label = 'Statuses',
}: {
  statuses: readonly Status[];
  /** What an empty list says; undefined while the list is still loading. */
  empty: string | undefined;
  onReply: (status: Status) => void;
  label?: string;
}) {
  if (statuses.length === 0) {
    return empty === undefined ? (
      <p className="loading" role="status">
        Loading your feed…
      </p>
    ) : (
      <p className="empty">{empty}</p>
    );
  }
  return (
    <ol className="statuses" aria-label={label}>
      {statuses.map((status) => (
        <li key={status.id}>
          <StatusCard status={status} onReply={onReply} />
        </li>
      ))}
    </ol>
  );
}

export function StatusCard({ status, onReply }: { status: Status; onReply?: (status: Status) => void }) {
  return (
    <article className="status" data-status-id={status.id}>
      <header>
        <strong className="author">{status.author}</strong>
        <time dateTime={status.createdAt} title={new Date(status.createdAt).toLocaleString()}>
          {ago(status.createdAt)}
        </time>
        {status.replyTo && <span className="reply-mark">reply</span>}
      </header>
      <p className="text">{status.text}</p>
      {onReply && (
        <button type="button" className="quiet" onClick={() => onReply(status)} aria-label={`Reply to ${status.author}: ${status.text.slice(0, 40)}`}>
          Reply
        </button>
      )}
    </article>
  );
}

export function ago(iso: string): string {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return new Date(iso).toLocaleDateString();
}
