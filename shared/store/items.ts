import type { ChannelItem, Notification, Status } from '../protocol';

/**
 * The Statuses table is a log per channel: partition key `channel`, sort key
 * `id` (a ULID, so the sort order is time order). A status is written once per
 * channel it belongs to, plus once under `status:<id>` so it can be read by id
 * with a strongly consistent GetItem.
 */
export interface StatusItem extends Status {
  readonly channel: string;
  readonly kind: 'status';
}

export interface NotificationItem {
  readonly channel: string;
  readonly id: string;
  readonly kind: 'notification';
  readonly notification: Omit<Notification, 'id'>;
}

export type LogItem = StatusItem | NotificationItem;

export const byIdChannel = (statusId: string) => `status:${statusId}`;

export function statusItem(channel: string, status: Status): StatusItem {
  return { ...status, channel, kind: 'status' };
}

export function notificationItem(channel: string, notification: Notification): NotificationItem {
  const { id, ...rest } = notification;
  return { channel, id, kind: 'notification', notification: rest };
}

/** Maps a stored item (from a read or a stream image) to what clients receive. */
export function channelItem(item: Record<string, unknown>): ChannelItem | undefined {
  if (item['kind'] === 'status') return toStatus(item);
  if (item['kind'] === 'notification') return toNotification(item);
  return undefined;
}

export function toNotification(item: Record<string, unknown>): Notification {
  return { id: item['id'] as string, ...(item['notification'] as Omit<Notification, 'id'>) };
}

export function toStatus(item: Record<string, unknown>): Status {
  const status: Status = {
    id: item['id'] as string,
    author: item['author'] as string,
    text: item['text'] as string,
    createdAt: item['createdAt'] as string,
  };
  const replyTo = item['replyTo'] as string | undefined;
  const thread = item['thread'] as string | undefined;
  return replyTo === undefined ? status : { ...status, replyTo, thread };
}
