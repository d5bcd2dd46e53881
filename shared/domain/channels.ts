import { ErrorCode, Limits, ProtocolError, mayRead, parseChannel, type ChannelItem, type HistoryRequest, type SubscribeRequest } from '../protocol';
import { SubscriptionLimitReached, type SubscriptionStore } from '../store/subscriptions';
import type { StatusStore } from '../store/statuses';
import { ReplyBudget } from './budget';

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
  /** Channels one connection may hold through `subscribe`. */
  readonly maxSubscriptions: number;
}

export interface Subscribed {
  readonly channels: readonly string[];
  readonly missed?: Record<string, ChannelItem[]>;
  readonly truncated?: string[];
}

/**
 * Subscribes first and reads what was missed second, so a status written in
 * between is delivered live, replayed, or both; never neither. Clients drop
 * duplicates by id.
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
  const replays = Object.entries(request.since);
  if (replays.length === 0) return { channels: request.channels };

  const pages = await Promise.all(
    replays.map(async ([channel, after]) => ({ channel, page: await deps.statuses.page({ channel, after, limit: Limits.missedPerChannel }) })),
  );
  const budget = new ReplyBudget();
  const missed: Record<string, ChannelItem[]> = {};
  const truncated: string[] = [];
  for (const { channel, page } of pages) {
    const items = budget.take(page.items);
    missed[channel] = items;
    if (page.more || items.length < page.items.length) truncated.push(channel);
  }
  return truncated.length > 0 ? { channels: request.channels, missed, truncated } : { channels: request.channels, missed };
}

export async function unsubscribe(deps: { readonly subscriptions: Pick<SubscriptionStore, 'unsubscribe'> }, caller: Caller, channels: readonly string[]) {
  await deps.subscriptions.unsubscribe(caller.connectionId, channels);
  return { channels };
}

export async function history(deps: Pick<ChannelDeps, 'statuses'>, userId: string, request: HistoryRequest) {
  assertReadable(userId, [request.channel]);
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
