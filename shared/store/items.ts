import type { ChannelEntry, ChannelName, Notification, Position, Status } from '../protocol';
import { Statuses } from '../schema';
import { MalformedItem, asItem, optionalNumberAt, optionalStringAt, stringAt, type Item } from './attributes';

/**
 * Rows of the Statuses table (see shared/schema.ts): a status or a
 * notification on one channel. Only the stores (PostLog, StatusStore) write
 * them; fan-out reads them back from the stream with channelItem().
 */
export interface StatusItem extends Status {
  readonly channel: ChannelName;
  readonly kind: 'status';
  /** Its position in the channel; absent on the copy read by id, and on rows from before positions. */
  readonly pos?: Position;
}

export interface NotificationItem {
  readonly channel: ChannelName;
  readonly id: string;
  readonly kind: 'notification';
  readonly notification: Omit<Notification, 'id'>;
  readonly pos?: Position;
}

export type LogItem = StatusItem | NotificationItem;

/** The partition of the copy of a status read by id, which no one subscribes to. */
export const byIdChannel = (statusId: string): string => `${Statuses.byIdPrefix}${statusId}`;

export function statusItem(channel: ChannelName, status: Status, pos?: Position): StatusItem {
  return pos === undefined ? { ...status, channel, kind: 'status' } : { ...status, channel, kind: 'status', pos };
}

export function notificationItem(channel: ChannelName, notification: Notification, pos?: Position): NotificationItem {
  const { id, ...rest } = notification;
  return pos === undefined ? { channel, id, kind: 'notification', notification: rest } : { channel, id, kind: 'notification', notification: rest, pos };
}

/**
 * Maps a stored row (from a read or a stream image) to what clients receive;
 * undefined for a row of no kind clients know. A row of a known kind that does
 * not hold what PostLog writes throws MalformedItem.
 */
export function channelItem(item: Item): ChannelEntry | undefined {
  const pos = positionOf(item);
  switch (item[Statuses.kindAttribute]) {
    case 'status':
      return pos === undefined ? parseStatus(item) : { ...parseStatus(item), pos };
    case 'notification':
      return pos === undefined ? parseNotification(item) : { ...parseNotification(item), pos };
    default:
      return undefined;
  }
}

/** A row's position in its channel, if it has one. */
export const positionOf = (item: Item): Position | undefined => optionalNumberAt(item, Statuses.positionAttribute);

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
