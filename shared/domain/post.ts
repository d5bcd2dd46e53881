import { ErrorCode, ProtocolError, inboxChannel, threadChannel, userChannel, type PostRequest, type Status } from '../protocol';
import { byIdChannel, notificationItem, statusItem, type LogItem } from '../store/items';
import type { AppendResult, PostLog } from '../store/posts';
import type { StatusStore } from '../store/statuses';

export interface PostDeps {
  readonly statuses: Pick<StatusStore, 'get'>;
  readonly log: Pick<PostLog, 'append'>;
  readonly newId: () => string;
  readonly now: () => Date;
}

/**
 * Stores a status on every channel it belongs to. The stream on the Statuses
 * table then delivers each of those rows to the channel's subscribers.
 */
export async function post(deps: PostDeps, author: string, request: PostRequest, requestId?: string): Promise<AppendResult> {
  const parent = request.replyTo === undefined ? undefined : await deps.statuses.get(request.replyTo);
  if (request.replyTo !== undefined && !parent) {
    throw new ProtocolError(ErrorCode.NotFound, `replyTo names no status: ${request.replyTo}`);
  }
  const createdAt = deps.now().toISOString();
  const base = { id: deps.newId(), author, text: request.text, createdAt };
  const status: Status = parent ? { ...base, replyTo: parent.id, thread: parent.thread ?? parent.id } : base;
  return deps.log.append(status, logItems(status, parent), requestId === undefined ? undefined : { userId: author, requestId });
}

function logItems(status: Status, parent: Status | undefined): LogItem[] {
  const items: LogItem[] = [statusItem(byIdChannel(status.id), status), statusItem(userChannel(status.author), status)];
  if (status.thread !== undefined) items.push(statusItem(threadChannel(status.thread), status));
  if (parent && parent.author !== status.author) {
    items.push(
      notificationItem(inboxChannel(parent.author), {
        id: status.id,
        kind: 'reply',
        from: status.author,
        status,
        at: status.createdAt,
      }),
    );
  }
  return items;
}
