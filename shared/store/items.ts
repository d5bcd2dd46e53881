import type { ChannelItem, ChannelName, Notification, Status } from '../protocol';
import { Statuses } from '../schema';
import { MalformedItem, asItem, optionalStringAt, stringAt, type Item } from './attributes';

/**
 * Rows of the Statuses table (see shared/schema.ts): a status or a
 * notification on one channel. Only the stores (PostLog, StatusStore) write
 * them; fan-out reads them back from the stream with channelItem().
 */
export interface StatusItem extends Status {
  readonly channel: ChannelName;
  readonly kind: 'status';
}

export interface NotificationItem {
  readonly channel: ChannelName;
  readonly id: string;
  readonly kind: 'notification';
  readonly notification: Omit<Notification, 'id'>;
}

export type LogItem = StatusItem | NotificationItem;

/** The partition of the copy of a status read by id, which no one subscribes to. */
export const byIdChannel = (statusId: string): string => `${Statuses.byIdPrefix}${statusId}`;

export function statusItem(channel: ChannelName, status: Status): StatusItem {
  return { ...status, channel, kind: 'status' };
}

export function notificationItem(channel: ChannelName, notification: Notification): NotificationItem {
  const { id, ...rest } = notification;
  return { channel, id, kind: 'notification', notification: rest };
}

/**
 * Maps a stored row (from a read or a stream image) to what clients receive;
 * undefined for a row of no kind clients know. A row of a known kind that does
 * not hold what PostLog writes throws MalformedItem.
 */
export function channelItem(item: Item): ChannelItem | undefined {
  switch (item[Statuses.kindAttribute]) {
    case 'status':
      return parseStatus(item);
    case 'notification':
      return parseNotification(item);
    default:
      return undefined;
  }
}

export function parseNotification(item: Item): Notification {
  const body = asItem(item['notification'], 'attribute notification');
  const kind = body['kind'];
  if (kind !== 'reply' && kind !== 'follow') throw new MalformedItem('attribute notification.kind is neither reply nor follow');
  const notification: Notification = { id: stringAt(item, 'id'), kind, from: stringAt(body, 'from'), at: stringAt(body, 'at') };
  return body['status'] === undefined ? notification : { ...notification, status: parseStatus(asItem(body['status'], 'attribute notification.status')) };
}

/** A status from a row, or from the status a claim or a notification holds; other attributes (channel, kind) are left out. */
export function parseStatus(item: Item): Status {
  const status: Status = { id: stringAt(item, 'id'), author: stringAt(item, 'author'), text: stringAt(item, 'text'), createdAt: stringAt(item, 'createdAt') };
  const replyTo = optionalStringAt(item, 'replyTo');
  const thread = optionalStringAt(item, 'thread');
  if (replyTo === undefined) return status;
  return thread === undefined ? { ...status, replyTo } : { ...status, replyTo, thread };
}
