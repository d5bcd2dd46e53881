const USER_ID_MAX_LENGTH = 64;

/** The numbers docs/protocol.md fixes, named once. */
export const Limits = {
  userIdMaxLength: USER_ID_MAX_LENGTH,
  /** Letters, digits, `_` and `-`: {@link Rules.userId} says it in words. */
  userIdPattern: new RegExp(`^[A-Za-z0-9_-]{1,${USER_ID_MAX_LENGTH}}$`),
  /** ULID: 26 characters of Crockford's base 32; string order is creation order. */
  statusIdPattern: /^[0-9A-HJKMNP-TV-Z]{26}$/,
  requestIdMaxLength: 64,
  textMaxCodePoints: 500,
  channelsPerSubscribe: 50,
  missedPerChannel: 100,
  historyDefaultLimit: 20,
  historyMaxLimit: 100,
  /** A `feed` page: the same sizes as a history page. */
  feedDefaultLimit: 20,
  feedMaxLimit: 100,
  /** Status ids one `get` may ask for. */
  getMaxIds: 100,
  /**
   * A client sends a frame at least this often (a `ping` when it has nothing else to send), under
   * API Gateway's 10-minute idle timeout with a minute to spare. The stage throttle is sized for a
   * million connections doing so (cdk/limits.ts).
   */
  heartbeatMs: 9 * 60 * 1000,
  /**
   * Each wait is drawn between (1 - this) and 1 times heartbeatMs (8.1 to 9 minutes), so that
   * connections opened together (after a deploy, say) do not beat together, and a browser that
   * runs a hidden tab's timers up to a minute late still beats inside the 10 minutes.
   */
  heartbeatJitter: 0.1,
  /** How long `post` with the same request id returns the first status again. */
  idempotencySeconds: 10 * 60,
  /**
   * API Gateway refuses messages over 128 KB, replies included. Replies that
   * carry statuses (`missed`, `history`, `feed`, `statuses`) stop adding items at this many bytes
   * and say that more exist, so a full page of long statuses still arrives.
   */
  replyItemBytes: 96 * 1024,
  /**
   * How many people one user may follow. Every new connection is subscribed to
   * all of them during $connect, so this bounds $connect's work (and time).
   */
  followsPerUser: 1000,
  /**
   * How long a follower's `follow` notification to one user is not sent again,
   * however often they unfollow and follow again: long enough that toggling a
   * follow cannot flood an inbox (one a month a pair), short enough that someone
   * who comes back much later is announced again, and the marker rows expire.
   */
  followNoticeSeconds: 30 * 24 * 60 * 60,
  /** User ids one `presence` request may ask about. */
  presenceMaxUsers: 100,
} as const;
