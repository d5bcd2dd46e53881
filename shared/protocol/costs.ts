import { Limits } from './limits';
import type { Frame } from './validate';

/**
 * Heads per unit: a channel's head is a small item, and an eventually consistent read of one is
 * half a read unit (the home feed and reply counts read them so, shared/store/heads.ts).
 */
const HEADS_PER_UNIT = 2;

/** What reading `channels` heads eventually consistent costs. */
export const headsCost = (channels: number): number => Math.ceil(channels / HEADS_PER_UNIT);

/** Heads a feed page's up-front cost pays for: the user's own and 19 people's they follow. */
export const FEED_PREPAID_HEADS = 20;

/**
 * What a valid frame costs its user's action budget, in units of about one
 * DynamoDB request, or of one read unit where one request reads many items (the
 * heads and statuses that `feed` and `get` read in batches of 100) (docs/protocol.md,
 * "Action budget"). The edge charges it after validation and before any work, one
 * conditional write per frame.
 *
 * Not in the table, so free: `ping` (it touches no table, and charging it would be the only
 * DynamoDB request it makes; a ping flood is the stage throttle's to stop,
 * which counts frames before any function runs), and `post`, which has its
 * own budget (shared/domain/post.ts) that knows an idempotent retry is free.
 */
export const ActionCosts = {
  /** An update of the connection row and a subscription row per channel; a strongly consistent Query per channel in `since`. */
  subscribe: (fields) => 1 + count(fields['channels']) + count(fields['since']),
  /** A delete per channel and an update of the connection row. */
  unsubscribe: (fields) => 1 + count(fields['channels']),
  /** One Query of at most 100 items. */
  history: () => 1,
  /**
   * Who the user follows (a Query), the heads of `FEED_PREPAID_HEADS` channels, a Query per
   * author who may hold one of the page's items (at most `limit` of them on the first page), and
   * the heads of the page's threads. Heads beyond the prepaid ones are charged once the follows
   * tell how many there are, and a later page's Queries beyond `limit` once the heads tell which
   * authors posted since its cursor, each before any is read (shared/domain/feed.ts).
   */
  feed: (fields) => {
    const limit = pageSize(fields['limit'], Limits.feedDefaultLimit);
    return 1 + headsCost(FEED_PREPAID_HEADS) + limit + headsCost(limit);
  },
  /** Each status by id, strongly consistent (a read unit each), and the heads of their threads. */
  get: (fields) => count(fields['ids']) + headsCost(count(fields['ids'])),
  /** Who the user follows: one Query of up to 1,000 rows. */
  following: () => 2,
  /**
   * Follow row and count, the user's connections (at most maxConnectionsPerUser),
   * an update and a subscription row for each, and a notification.
   */
  follow: () => 10,
  /** As follow, less the notification. */
  unfollow: () => 10,
  /** Two reads per user asked. */
  presence: (fields) => 2 * count(fields['users']),
} as const satisfies Record<string, (fields: Frame['fields']) => number>;

export type ChargedAction = keyof typeof ActionCosts;

/**
 * What a handshake costs its user's connect budget (`churn#`), in the same units: the
 * connection row, its open slot, "last seen", and a subscription row for each person the
 * user follows, one write each. $connect charges it once it has read the follows.
 */
export const connectCost = (follows: number): number => 3 + follows;

/** The most a handshake can cost (a user at the follow limit): the connect budget's burst must hold at least this. */
export const MAX_CONNECT_COST = connectCost(Limits.followsPerUser);
/** Whether frames of `action` are charged to the action budget; the stack grants those routes the bucket's row. */
export const isCharged = (action: unknown): action is ChargedAction => typeof action === 'string' && Object.hasOwn(ActionCosts, action);

/**
 * The most one valid frame can cost (`presence` of 100 users): the action
 * budget's burst must hold at least this, or such a frame could never pass.
 */
export const MAX_ACTION_COST = Math.max(1 + 2 * Limits.channelsPerSubscribe, 2 * Limits.presenceMaxUsers);

/** The cost of a validated frame; 0 for an action the table does not name. */
export function actionCost(frame: Frame): number {
  return isCharged(frame.action) ? ActionCosts[frame.action](frame.fields) : 0;
}

const pageSize = (value: unknown, fallback: number): number => (typeof value === 'number' ? value : fallback);

function count(value: unknown): number {
  if (Array.isArray(value)) return value.length;
  return value !== null && typeof value === 'object' ? Object.keys(value).length : 0;
}
