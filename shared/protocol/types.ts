/** Message shapes of docs/protocol.md, version 1. */

import type { ErrorCode } from './codes';

export type UserId = string;
export type StatusId = string;
/** `user:<userId>`, `thread:<statusId>` or `inbox:<userId>`. */
export type ChannelName = string;

export interface Status {
  readonly id: StatusId;
  readonly author: UserId;
  readonly text: string;
  readonly createdAt: string;
  readonly replyTo?: StatusId;
  readonly thread?: StatusId;
}

export interface Notification {
  /** Cursor for `history` on the inbox; for a reply, the reply's status id. */
  readonly id: string;
  readonly kind: 'reply' | 'follow';
  readonly from: UserId;
  readonly status?: Status;
  readonly at: string;
}

/** What a channel holds: statuses on `user:` and `thread:`, notifications on `inbox:`. */
export type ChannelItem = Status | Notification;

/** An item's place in its channel: 1, 2, 3... in the order the channel's writes committed, with no holes. */
export type Position = number;

/** A channel's item as `history` and `missed` carry it: with its position, except on items stored before positions existed. */
export type ChannelEntry = ChannelItem & { readonly pos?: Position };

export interface PostRequest {
  readonly text: string;
  readonly replyTo?: StatusId;
}

/** The publish API's `POST /statuses`: a status by a named user, with the idempotency id a WebSocket frame's `id` is. */
export interface PublishRequest extends PostRequest {
  readonly author: UserId;
  readonly id?: string;
}

export interface SubscribeRequest {
  readonly channels: readonly ChannelName[];
  readonly since: Readonly<Record<ChannelName, StatusId>>;
}

export interface UnsubscribeRequest {
  readonly channels: readonly ChannelName[];
}

export interface HistoryRequest {
  readonly channel: ChannelName;
  readonly before?: StatusId;
  readonly after?: StatusId;
  readonly limit: number;
}

/** A page of the home feed: the caller's statuses and those of everyone they follow, newest first. */
export interface FeedRequest {
  readonly before?: StatusId;
  readonly limit: number;
}

export interface GetRequest {
  /** Distinct, in the order asked. */
  readonly ids: readonly StatusId[];
}

/** For root statuses in a reply: how many replies their thread holds; a root not named has none. */
export type ReplyCounts = Readonly<Record<StatusId, number>>;

export interface FollowRequest {
  readonly user: UserId;
}

export interface PresenceRequest {
  readonly users: readonly UserId[];
}

export interface Presence {
  readonly user: UserId;
  readonly online: boolean;
  /** When the user was last seen: now if online, else when their last connection ended. Absent if never seen. */
  readonly lastSeen?: string;
}

export type ServerFrame =
  | { type: 'posted'; id?: string; status: Status }
  | {
      type: 'subscribed';
      id?: string;
      channels: readonly ChannelName[];
      missed?: Record<ChannelName, readonly ChannelEntry[]>;
      truncated?: readonly ChannelName[];
      /** Each channel's position when the subscription began (0: nothing in it yet). Absent from servers before positions. */
      positions?: Readonly<Record<ChannelName, Position>>;
    }
  | { type: 'unsubscribed'; id?: string; channels: readonly ChannelName[] }
  | { type: 'history'; id?: string; channel: ChannelName; items: readonly ChannelEntry[]; next?: StatusId }
  | {
      type: 'feed';
      id?: string;
      /** Newest first; each with its position in its author's `user:` channel. */
      items: readonly (Status & { readonly pos?: Position })[];
      next?: StatusId;
      replyCounts?: ReplyCounts;
    }
  | {
      type: 'statuses';
      id?: string;
      /** Those found, in the order asked. */
      statuses: readonly Status[];
      /** Ids no status has. */
      missing: readonly StatusId[];
      /** Ids found but left out so that the reply stays under 128 KB: ask for them again. */
      truncated?: readonly StatusId[];
      replyCounts?: ReplyCounts;
    }
  | { type: 'pong'; id?: string }
  | { type: 'followed' | 'unfollowed'; id?: string; user: UserId }
  | { type: 'presence'; id?: string; users: readonly Presence[] }
  | { type: 'following'; id?: string; users: readonly UserId[] }
  | { type: 'status'; channel: ChannelName; status: Status; pos?: Position }
  | { type: 'notification'; notification: Notification; pos?: Position }
  | {
      type: 'error';
      id?: string;
      code: ErrorCode;
      message: string;
      /** Not sent by version 1 servers: how long to wait before trying again (`rate_limited`); clients read it when present. */
      retryAfterMs?: number;
    };
