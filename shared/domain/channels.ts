import { ErrorCode, Limits, ProtocolError, mayRead, parseChannel, type ChannelEntry, type HistoryRequest, type Position, type SubscribeRequest } from '../protocol';
import type { ChannelHeads } from '../store/heads';
import { SubscriptionLimitReached, type SubscriptionStore } from '../store/subscriptions';
import type { StatusStore } from '../store/statuses';
import { ReplyBudget } from './budget';

/**
 * Takes `units` more from the caller's action budget, for work a frame's up-front cost
 * (shared/protocol/costs.ts) could not foresee; rejects with RateLimited, and then the work must
 * not be done (shared/edge.ts gives one to every message route).
 */
export type Charge = (units: number) => Promise<void>;

export interface Caller {
  readonly userId: string;
  readonly connectionId: string;
  /** When API Gateway accepted the connection, in epoch milliseconds. */
  readonly connectedAt: number;
  /** When the connection's token expires, epoch seconds (the authorizer's context): subscriptions carry it for fan-out. */
  readonly tokenExpiresAt?: number;
}

export interface ChannelDeps {
  readonly subscriptions: Pick<SubscriptionStore, 'subscribe' | 'unsubscribe'>;
  readonly statuses: Pick<StatusStore, 'page'>;
  readonly heads: Pick<ChannelHeads, 'read'>;
  /** Channels one connection may hold through `subscribe`. */
  readonly maxSubscriptions: number;
}

export interface Subscribed {
  readonly channels: readonly string[];
  readonly missed?: Record<string, ChannelEntry[]>;
  readonly truncated?: string[];
  readonly positions: Record<string, Position>;
}

/**
 * Subscribes first, then reads each channel's head, then what was missed: so an item written
 * after the head was read is delivered live (the subscription is already there when fan-out
 * reads the subscribers), replayed, or both; never neither. The head's position tells the client
 * where its live items start, so it can tell a gap from a channel with nothing new. Clients drop
 * duplicates by position (or id).
 */
export async function subscribe(deps: ChannelDeps, caller: Caller, request: SubscribeRequest): Promise<Subscribed> {
  assertReadable(caller.userId, request.channels);
  try {
    await deps.subscriptions.subscribe(caller, request.channels, deps.maxSubscriptions);
  } catch (error) {
    if (error instanceof SubscriptionLimitReached) {
      throw new ProtocolError(ErrorCode.BadRequest, `${error.message}; unsubscribe from some first`);
    }
    throw error;
  }
  const heads = await deps.heads.read(request.channels);
  const positions = Object.fromEntries(request.channels.map((channel) => [channel, heads.get(channel)?.pos ?? 0]));
  const replays = Object.entries(request.since);
  if (replays.length === 0) return { channels: request.channels, positions };

  const pages = await Promise.all(
    replays.map(async ([channel, after]) => ({ channel, page: await deps.statuses.page({ channel, after, limit: Limits.missedPerChannel }) })),
  );
  const budget = new ReplyBudget();
  const missed: Record<string, ChannelEntry[]> = {};
  const truncated: string[] = [];
  for (const { channel, page } of pages) {
    const items = budget.take(page.items);
    missed[channel] = items;
    if (page.more || items.length < page.items.length) truncated.push(channel);
  }
  return truncated.length > 0 ? { channels: request.channels, missed, truncated, positions } : { channels: request.channels, missed, positions };
}

export async function unsubscribe(deps: { readonly subscriptions: Pick<SubscriptionStore, 'unsubscribe'> }, caller: Caller, channels: readonly string[]) {
  await deps.subscriptions.unsubscribe(caller.connectionId, channels);
  return { channels };
}

export async function history(deps: Pick<ChannelDeps, 'statuses'>, userId: string, request: HistoryRequest) {
  assertReadable(userId, [request.channel]);
  return readPage(deps, request);
}

/**
 * A page of a channel, with no check of who reads it: for callers whose right to read was settled
 * elsewhere (the publish API, where IAM grants each route). Replies stay within the size budget
 * as `history`'s do.
 */
export async function readPage(deps: Pick<ChannelDeps, 'statuses'>, request: HistoryRequest) {
  const page = await deps.statuses.page(request);
  const items = new ReplyBudget().take(page.items);
  const more = page.more || items.length < page.items.length;
  const last = items.at(-1);
  return more && last ? { channel: request.channel, items, next: last.id } : { channel: request.channel, items };
}

function assertReadable(userId: string, channels: readonly string[]): void {
  for (const name of channels) {
    const channel = parseChannel(name);
    if (channel && !mayRead(userId, channel)) throw new ProtocolError(ErrorCode.Forbidden, `${name} belongs to another user`);
  }
}
