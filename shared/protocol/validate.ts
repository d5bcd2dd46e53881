import { badRequest } from './codes';
import { parseChannel } from './channels';
import { Limits } from './limits';
import { Rules } from './rules';
import type { ChannelName, FeedRequest, PublishRequest, FollowRequest, GetRequest, HistoryRequest, PostRequest, PresenceRequest, SubscribeRequest, UnsubscribeRequest } from './types';

/** A client frame once it is known to be a JSON object with a valid optional `id`. */
export interface Frame {
  readonly id?: string;
  readonly action?: unknown;
  readonly fields: Readonly<Record<string, unknown>>;
}

/**
 * Reads the envelope every frame shares. The request id is checked before any
 * other field so that errors about the rest can still be matched to the request.
 */
export function parseFrame(body: string | undefined, what: 'frame' | 'body' = 'frame'): Frame {
  let value: unknown;
  try {
    value = JSON.parse(body ?? '');
  } catch {
    throw badRequest(`${what} is not valid JSON`);
  }
  if (!isObject(value)) throw badRequest(`${what} must be a JSON object`);
  const id = value['id'];
  // The id becomes part of a DynamoDB key (the idempotency claim), which must be valid UTF-8.
  if (id !== undefined && (typeof id !== 'string' || id.length > Limits.requestIdMaxLength || !isWellFormed(id))) {
    throw badRequest(`id must be a string of at most ${Limits.requestIdMaxLength} characters`);
  }
  return { id, action: value['action'], fields: value };
}

export function validatePost(frame: Frame): PostRequest {
  const raw = frame.fields['text'];
  if (typeof raw !== 'string') throw badRequest('text must be a string');
  // JSON may spell a lone surrogate ("\ud800"), which no UTF-8 text (and no DynamoDB string) can hold.
  if (!isWellFormed(raw)) throw badRequest('text must be valid Unicode: it holds a lone surrogate');
  const text = raw.trim();
  const length = codePoints(text);
  if (length < 1 || length > Limits.textMaxCodePoints) {
    throw badRequest(`text must hold 1 to ${Limits.textMaxCodePoints} characters once trimmed`);
  }
  const replyTo = optionalStatusId(frame, 'replyTo');
  return replyTo === undefined ? { text } : { text, replyTo };
}

/** The publish API's `POST /statuses` body: `author`, then what a `post` frame holds, and `id` as a frame's. */
export function validatePublish(body: string | undefined): PublishRequest {
  const frame = parseFrame(body, 'body');
  const author = frame.fields['author'];
  if (typeof author !== 'string' || !Limits.userIdPattern.test(author)) throw badRequest(`author must be a user id (${Rules.userId})`);
  const post = validatePost(frame);
  return { author, ...post, ...(frame.id === undefined ? {} : { id: frame.id }) };
}

export function validateSubscribe(frame: Frame): SubscribeRequest {
  const channels = channelList(frame);
  const since: Record<ChannelName, string> = {};
  const rawSince = frame.fields['since'];
  if (rawSince !== undefined) {
    if (!isObject(rawSince)) throw badRequest('since must be an object of channel to status id');
    for (const [channel, cursor] of Object.entries(rawSince)) {
      if (!channels.includes(channel)) throw badRequest(`since names ${quote(channel)}, which is not in channels`);
      if (!isStatusId(cursor)) throw badRequest(`since[${quote(channel)}] must be a status id`);
      since[channel] = cursor;
    }
  }
  return { channels, since };
}

export function validateUnsubscribe(frame: Frame): UnsubscribeRequest {
  return { channels: channelList(frame) };
}

export function validateHistory(frame: Frame): HistoryRequest {
  const channel = frame.fields['channel'];
  if (typeof channel !== 'string' || !parseChannel(channel)) throw badRequest(`channel must be a channel name (${Rules.channel})`);
  const before = optionalStatusId(frame, 'before');
  const after = optionalStatusId(frame, 'after');
  if (before !== undefined && after !== undefined) throw badRequest('give before or after, not both');
  const limit = pageLimit(frame, Limits.historyDefaultLimit, Limits.historyMaxLimit);
  if (before !== undefined) return { channel, before, limit };
  if (after !== undefined) return { channel, after, limit };
  return { channel, limit };
}

export function validateFeed(frame: Frame): FeedRequest {
  const before = optionalStatusId(frame, 'before');
  const limit = pageLimit(frame, Limits.feedDefaultLimit, Limits.feedMaxLimit);
  return before === undefined ? { limit } : { before, limit };
}

export function validateGet(frame: Frame): GetRequest {
  const ids = frame.fields['ids'];
  if (!Array.isArray(ids) || ids.length < 1 || ids.length > Limits.getMaxIds) {
    throw badRequest(`ids must be a list of 1 to ${Limits.getMaxIds} status ids`);
  }
  for (const id of ids) if (!isStatusId(id)) throw badRequest(`${quote(id)} is not a status id (${Rules.statusId})`);
  return { ids: [...new Set(ids as string[])] };
}

export function validateFollow(frame: Frame): FollowRequest {
  const user = frame.fields['user'];
  if (typeof user !== 'string' || !Limits.userIdPattern.test(user)) throw badRequest(`user must be a user id (${Rules.userId})`);
  return { user };
}

export function validatePresence(frame: Frame): PresenceRequest {
  const users = frame.fields['users'];
  if (!Array.isArray(users) || users.length < 1 || users.length > Limits.presenceMaxUsers) {
    throw badRequest(`users must be a list of 1 to ${Limits.presenceMaxUsers} user ids`);
  }
  const ids = new Set<string>();
  for (const user of users) {
    if (typeof user !== 'string' || !Limits.userIdPattern.test(user)) throw badRequest(`${quote(user)} is not a user id (${Rules.userId})`);
    ids.add(user);
  }
  return { users: [...ids] };
}

/** Length in Unicode code points, as docs/protocol.md counts text; not UTF-16 units. */
export function codePoints(text: string): number {
  // A string's iterator walks code points.
  return Array.from(text).length;
}

export const isStatusId = (value: unknown): value is string =>
  typeof value === 'string' && Limits.statusIdPattern.test(value);

function channelList(frame: Frame): ChannelName[] {
  const raw = frame.fields['channels'];
  if (!Array.isArray(raw) || raw.length < 1 || raw.length > Limits.channelsPerSubscribe) {
    throw badRequest(`channels must be a list of 1 to ${Limits.channelsPerSubscribe} channel names`);
  }
  const channels = new Set<ChannelName>();
  for (const channel of raw) {
    if (typeof channel !== 'string' || !parseChannel(channel)) {
      throw badRequest(`${quote(channel)} is not a channel: use user:<userId>, thread:<statusId> or inbox:<userId>`);
    }
    channels.add(channel);
  }
  return [...channels];
}

/** A page's `limit`: absent means the default; null, like any other non-number, is refused. */
function pageLimit(frame: Frame, fallback: number, max: number): number {
  const limit = frame.fields['limit'] === undefined ? fallback : frame.fields['limit'];
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > max) {
    throw badRequest(`limit must be a whole number from 1 to ${max}`);
  }
  return limit;
}

function optionalStatusId(frame: Frame, field: string): string | undefined {
  const value = frame.fields[field];
  if (value === undefined) return undefined;
  if (!isStatusId(value)) throw badRequest(`${field} must be a status id (${Rules.statusId})`);
  return value;
}

/** No lone surrogates: the string can be written as UTF-8. In Unicode mode only an unpaired surrogate matches \p{Cs}. */
const isWellFormed = (text: string): boolean => !/\p{Cs}/u.test(text);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Echoes a bad value into an error message, cut short so the reply stays small.
 * Arrays and objects are named, not serialized: a frame may nest them
 * thousands deep, and JSON.stringify would run out of stack on them.
 */
function quote(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}
