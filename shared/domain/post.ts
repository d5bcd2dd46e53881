import { ErrorCode, IdempotencyConflict, ProtocolError, RateLimited, inboxChannel, threadChannel, userChannel, type PostRequest, type PublishRequest, type Status } from '../protocol';
import type { ClaimStore } from '../store/claims';
import type { AppendResult, Entry, PostLog, RetryKey } from '../store/posts';
import type { RateLimiter } from '../store/rates';
import type { StatusStore } from '../store/statuses';

export interface PostDeps {
  readonly statuses: Pick<StatusStore, 'get'>;
  readonly log: Pick<PostLog, 'append'>;
  readonly claims: Pick<ClaimStore, 'claimed'>;
  readonly rate: Pick<RateLimiter, 'take' | 'refund'>;
  readonly newId: () => string;
  readonly now: () => Date;
}

/**
 * Stores a status on every channel it belongs to. The stream on the Statuses
 * table then delivers each of those rows to the channel's subscribers.
 *
 * Every well-formed post takes a token from its author's bucket before
 * anything is read or written (a frame that fails validation never gets this
 * far). An idempotent retry costs nothing: a refused one is answered from its
 * claim when there is one, and an allowed one gets its token back. A request
 * id that the author used for a different status (another text or replyTo) is
 * refused with IdempotencyConflict, and nothing is stored.
 */
export async function post(deps: PostDeps, author: string, request: PostRequest, requestId?: string): Promise<AppendResult> {
  const now = deps.now();
  const retry = requestId === undefined ? undefined : { userId: author, requestId };
  const charge = await deps.rate.take(author, now.getTime());
  if (!charge.allowed) {
    const first = retry && (await deps.claims.claimed(retry, now.getTime()));
    if (first) return retried(first, request, retry);
    throw new RateLimited(`posting too fast; try again in ${Math.ceil(charge.retryAfterMs / 100) / 10} s`, charge.retryAfterMs);
  }
  const parent = request.replyTo === undefined ? undefined : await deps.statuses.get(request.replyTo);
  if (request.replyTo !== undefined && !parent) {
    throw new ProtocolError(ErrorCode.NotFound, `replyTo names no status: ${request.replyTo}`);
  }
  const base = { id: deps.newId(), author, text: request.text, createdAt: now.toISOString() };
  const status: Status = parent ? { ...base, replyTo: parent.id, thread: parent.thread ?? parent.id } : base;
  const result = await deps.log.append(entry(status, parent), retry, now.getTime());
  if (!result.duplicate || !retry) return result;
  await deps.rate.refund(author);
  return retried(result.status, request, retry);
}

/**
 * A status published for `request.author` by a backend (the publish API): `post` as that user, the
 * request's `id` scoped to the author as a WebSocket post's is, charged to whatever budget `deps.rate`
 * holds (the publish API's own, not the author's).
 */
export function publish(deps: PostDeps, request: PublishRequest): Promise<AppendResult> {
  const { author, id, ...wanted } = request;
  return post(deps, author, wanted, id);
}

/** The answer to a post whose request id holds `first`: that status again, if the post asked for the same one. */
function retried(first: Status, request: PostRequest, retry: RetryKey): AppendResult {
  if (first.text !== request.text || first.replyTo !== request.replyTo) {
    throw new IdempotencyConflict(
      `id ${JSON.stringify(retry.requestId)} was used for another status by ${retry.userId} (${first.id}) in the last 10 minutes; nothing was posted: use a new id`,
    );
  }
  return { status: first, duplicate: true };
}

/** The channels a status belongs to (its author's, its thread's) and the notification a reply to someone else sends. */
function entry(status: Status, parent: Status | undefined): Entry {
  const channels = status.thread === undefined ? [userChannel(status.author)] : [userChannel(status.author), threadChannel(status.thread)];
  if (!parent || parent.author === status.author) return { status, channels };
  const notification = { id: status.id, kind: 'reply', from: status.author, status, at: status.createdAt } as const;
  return { status, channels, notifications: [{ channel: inboxChannel(parent.author), notification }] };
}
