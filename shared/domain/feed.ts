import pLimit from 'p-limit';
import { FEED_PREPAID_HEADS, headsCost, threadChannel, userChannel, type ChannelName, type FeedRequest, type GetRequest, type Position, type ReplyCounts, type Status, type StatusId } from '../protocol';
import type { FollowStore } from '../store/follows';
import type { Charge } from './channels';
import type { ChannelHeads } from '../store/heads';
import type { StatusStore } from '../store/statuses';
import { ReplyBudget } from './budget';

export interface FeedDeps {
  readonly follows: Pick<FollowStore, 'following'>;
  readonly heads: Pick<ChannelHeads, 'read'>;
  readonly statuses: Pick<StatusStore, 'page'>;
}

export type FeedItem = Status & { readonly pos?: Position };

export interface FeedPage {
  readonly items: FeedItem[];
  readonly next?: StatusId;
  readonly replyCounts?: ReplyCounts;
}

/** Channel Queries one page may have in flight: a deep page may ask every author followed. */
const QUERIES_IN_FLIGHT = 16;

/**
 * The home feed, merged on read (docs/protocol.md, "The home feed"): the caller's statuses and
 * those of everyone they follow, newest first, read from the authors' own `user:` channels.
 *
 * Each channel's head holds the id of its newest item, so the authors' heads (one BatchGet per
 * 100) say whose channels can reach the page without reading them:
 * - an author whose newest item is below the cursor (every author, on the first page) has it as
 *   their first item on the page, if any. Ranked by that item, the author at rank i (from 0) has
 *   i authors with a newer item than all of theirs, so at most `limit - i` of theirs are on the
 *   page, and none past rank `limit - 1`;
 * - an author who posted at or after the cursor may hold up to `limit` items below it: read.
 * So the first page reads at most `limit` channels, whatever the number followed; a later page
 * reads also each author who posted since its cursor.
 *
 * The frame's up-front cost pays for FEED_PREPAID_HEADS heads and `limit` channel Queries
 * (ActionCosts.feed). Through `chargeMore`, before any is read, it then pays for the heads of
 * everyone else followed, and a later page, or a crafted `before` older than everyone's newest
 * status, for a Query for each author beyond `limit` who posted since. So a page costs its user
 * what it costs the table, and one that the budget cannot pay reads nothing more.
 *
 * Heads and pages are read eventually consistent, at half the read units, and the heads may come
 * from the container's memory (RecentHeads): a page may miss what was written in the last second
 * or so, which the feed's live subscriptions bring (docs/protocol.md, "The home feed").
 */
export async function feed(deps: FeedDeps, userId: string, request: FeedRequest, chargeMore: Charge = () => Promise.resolve()): Promise<FeedPage> {
  const { before, limit } = request;
  const authors = [userId, ...(await deps.follows.following(userId))];
  await chargeMore(headsCost(authors.length) - headsCost(FEED_PREPAID_HEADS));
  const heads = await deps.heads.read(authors.map(userChannel));
  const ranked: { channel: ChannelName; last: StatusId }[] = [];
  const reads: { channel: ChannelName; limit: number }[] = [];
  for (const [channel, head] of heads) {
    if (head.last === undefined) continue;
    if (before === undefined || head.last < before) ranked.push({ channel, last: head.last });
    else reads.push({ channel, limit });
  }
  ranked.sort((a, b) => (a.last < b.last ? 1 : -1));
  ranked.slice(0, limit).forEach(({ channel }, rank) => reads.push({ channel, limit: limit - rank }));
  const beyondPage = ranked.length > limit;
  await chargeMore(reads.length - limit);

  const inFlight = pLimit(QUERIES_IN_FLIGHT);
  const pages = await Promise.all(reads.map((read) => inFlight(() => deps.statuses.page({ channel: read.channel, before, limit: read.limit, consistent: false }))));
  // A `user:` channel holds statuses only.
  const merged = pages.flatMap((page) => page.items as FeedItem[]).sort((a, b) => (a.id < b.id ? 1 : -1));
  const items = new ReplyBudget().take(merged.slice(0, limit));
  const more = beyondPage || merged.length > items.length || pages.some((page) => page.more);
  const replyCounts = await countReplies(deps.heads, items);
  const last = items.at(-1);
  return { items, ...(more && last ? { next: last.id } : {}), ...replyCounts };
}

export interface GetDeps {
  readonly heads: Pick<ChannelHeads, 'read'>;
  readonly statuses: Pick<StatusStore, 'getMany'>;
}

export interface Found {
  readonly statuses: Status[];
  readonly missing: StatusId[];
  readonly truncated?: StatusId[];
  readonly replyCounts?: ReplyCounts;
}

/** Statuses by id, in the order asked; ids no status has are `missing`, not an error. */
export async function get(deps: GetDeps, request: GetRequest): Promise<Found> {
  const found = new Map((await deps.statuses.getMany(request.ids)).map((status) => [status.id, status]));
  const statuses = request.ids.flatMap((id) => found.get(id) ?? []);
  const missing = request.ids.filter((id) => !found.has(id));
  const sent = new ReplyBudget().take(statuses);
  const truncated = statuses.slice(sent.length).map((status) => status.id);
  const replyCounts = await countReplies(deps.heads, sent);
  return { statuses: sent, missing, ...(truncated.length > 0 ? { truncated } : {}), ...replyCounts };
}

/** The replies each root status among these has: its thread channel's position (one BatchGet). */
async function countReplies(heads: Pick<ChannelHeads, 'read'>, statuses: readonly Status[]): Promise<{ replyCounts?: ReplyCounts }> {
  const roots = statuses.filter((status) => status.replyTo === undefined).map((status) => status.id);
  if (roots.length === 0) return {};
  const threads = await heads.read(roots.map(threadChannel));
  const counts: Record<StatusId, number> = {};
  for (const root of roots) {
    const replies = threads.get(threadChannel(root))?.pos ?? 0;
    if (replies > 0) counts[root] = replies;
  }
  return Object.keys(counts).length === 0 ? {} : { replyCounts: counts };
}
