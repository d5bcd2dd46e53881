import { ErrorCode, ProtocolError, inboxChannel, userChannel, type Presence } from '../protocol';
import { connectCost } from '../protocol/costs';
import type { ConnectionStore } from '../store/connections';
import type { FollowNoticeStore } from '../store/follow-notices';
import type { ConnectionSlots } from '../store/connection-slots';
import { FollowLimitReached, type FollowStore } from '../store/follows';
import type { PostLog } from '../store/posts';
import type { PresenceStore } from '../store/presence';
import type { RateLimiter } from '../store/rates';
import type { SubscriptionStore } from '../store/subscriptions';
import type { Caller } from './channels';

export interface FollowDeps {
  readonly follows: Pick<FollowStore, 'follow'>;
  readonly connections: Pick<ConnectionStore, 'connectionsOf'>;
  readonly subscriptions: Pick<SubscriptionStore, 'subscribeConnections'>;
  readonly presence: Pick<PresenceStore, 'seen'>;
  readonly notices: Pick<FollowNoticeStore, 'claim'>;
  readonly log: Pick<PostLog, 'notify'>;
  readonly newId: () => string;
  readonly now: () => Date;
}

export interface UnfollowDeps {
  readonly follows: Pick<FollowStore, 'unfollow'>;
  readonly connections: Pick<ConnectionStore, 'connectionsOf'>;
  readonly subscriptions: Pick<SubscriptionStore, 'unsubscribeConnections'>;
}

export interface ConnectDeps {
  readonly follows: Pick<FollowStore, 'following'>;
  /** The user's connect budget (`churn#`), in cost units. */
  readonly budget: Pick<RateLimiter, 'take'>;
  /** The cap on the user's open connections (`open#`). */
  readonly slots: Pick<ConnectionSlots, 'claim' | 'release'>;
  readonly connections: Pick<ConnectionStore, 'open'>;
  readonly presence: Pick<PresenceStore, 'touch'>;
  readonly now: () => number;
}

/** Whether $connect opened the connection, or why it refused the handshake (the gateway answers 429 either way). */
export type ConnectOutcome = { readonly opened: true } | { readonly opened: false; readonly reason: 'budget'; readonly retryAfterMs: number } | { readonly opened: false; readonly reason: 'cap' };

export interface PresenceDeps {
  readonly follows: Pick<FollowStore, 'followedAmong'>;
  readonly connections: Pick<ConnectionStore, 'online'>;
  readonly presence: Pick<PresenceStore, 'lastSeen'>;
  readonly now: () => Date;
}

/**
 * Follows `user`: the follower's open connections start receiving their
 * statuses at once, and `user` is notified: only if they have ever connected
 * (an unknown id gets no inbox rows from strangers), and once per follower in
 * Limits.followNoticeSeconds, however often the follow is undone and made
 * again. The work is the follower's own connections and one notification:
 * never the followed user's followers.
 */
export async function follow(deps: FollowDeps, caller: Caller, user: string): Promise<void> {
  if (user === caller.userId) throw new ProtocolError(ErrorCode.BadRequest, 'you cannot follow yourself');
  const now = deps.now();
  let created: boolean;
  try {
    created = await deps.follows.follow(caller.userId, user, now.getTime());
  } catch (error) {
    if (error instanceof FollowLimitReached) throw new ProtocolError(ErrorCode.BadRequest, error.message);
    throw error;
  }
  const connections = await connectionsIncluding(deps, caller);
  await deps.subscriptions.subscribeConnections(connections, userChannel(user));
  if (created && (await deps.presence.seen(user)) && (await deps.notices.claim(caller.userId, user, now.getTime()))) {
    await deps.log.notify(inboxChannel(user), { id: deps.newId(), kind: 'follow', from: caller.userId, at: now.toISOString() });
  }
}

export async function unfollow(deps: UnfollowDeps, caller: Caller, user: string): Promise<void> {
  await deps.follows.unfollow(caller.userId, user);
  await deps.subscriptions.unsubscribeConnections(await connectionsIncluding(deps, caller), userChannel(user));
}

/**
 * $connect: reads whom the user follows (bounded by the follow limit), charges
 * the handshake what it writes to the user's connect budget, takes one of the
 * user's connection slots, then records the connection subscribed to everyone
 * its user follows. A handshake the budget refuses writes nothing; one the cap
 * refuses has been charged (a reconnect loop against a full cap is churn too).
 * One that fails after taking its slot gives the slot back (API Gateway runs
 * no $disconnect for it).
 */
export async function connect(deps: ConnectDeps, caller: Caller): Promise<ConnectOutcome> {
  const followed = await deps.follows.following(caller.userId);
  const charge = await deps.budget.take(caller.userId, deps.now(), connectCost(followed.length));
  if (!charge.allowed) return { opened: false, reason: 'budget', retryAfterMs: charge.retryAfterMs };
  if (!(await deps.slots.claim(caller.userId, caller.connectionId, deps.now()))) return { opened: false, reason: 'cap' };
  try {
    await Promise.all([deps.presence.touch(caller.userId, caller.connectedAt), deps.connections.open(caller, followed.map(userChannel))]);
  } catch (error) {
    await deps.slots.release(caller.userId, caller.connectionId);
    throw error;
  }
  return { opened: true };
}

/**
 * Presence of `users`, told truly only for the caller and the people the caller
 * follows: who has an open connection (seen now), and when the others were
 * last seen. Anyone else is `online: false` with no `lastSeen`, as an id
 * nobody uses is, and costs no read of theirs, so neither the answer nor its
 * time says whether they exist. One batch read of the caller's follow rows,
 * then two reads per id told.
 */
export async function presence(deps: PresenceDeps, caller: Caller, users: readonly string[]): Promise<Presence[]> {
  const followed = await deps.follows.followedAmong(caller.userId, users.filter((user) => user !== caller.userId));
  const told = users.filter((user) => user === caller.userId || followed.has(user));
  const [online, seen] = told.length === 0 ? [[], new Map<string, string>()] : await Promise.all([deps.connections.online(told), deps.presence.lastSeen(told)]);
  const now = deps.now().toISOString();
  return users.map((user): Presence => {
    const i = told.indexOf(user);
    if (i < 0) return { user, online: false };
    if (online[i] === true) return { user, online: true, lastSeen: now };
    const lastSeen = seen.get(user);
    return lastSeen === undefined ? { user, online: false } : { user, online: false, lastSeen };
  });
}

/** The byUser index is eventually consistent; the calling connection is certainly open. */
async function connectionsIncluding(deps: { connections: Pick<ConnectionStore, 'connectionsOf'> }, caller: Caller) {
  const connections = await deps.connections.connectionsOf(caller.userId);
  return connections.some((c) => c.connectionId === caller.connectionId)
    ? connections
    : [...connections, { connectionId: caller.connectionId, connectedAt: caller.connectedAt, ...(caller.tokenExpiresAt === undefined ? {} : { tokenExpiresAt: caller.tokenExpiresAt }) }];
}
