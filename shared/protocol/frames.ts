import { ErrorCode } from './codes';
import type { ChannelEntry, ChannelName, Notification, Position, Presence, ReplyCounts, ServerFrame, Status } from './types';

/**
 * Reads a frame from the server into a typed value, checking every field a
 * client relies on. The result is the frame, or the reason it was refused:
 * a client reports that and carries on, instead of throwing deep inside its
 * message handler on a missing field.
 *
 * Unknown extra fields are ignored (a newer server may add some); an unknown
 * `type` is refused; an error `code` outside docs/protocol.md's list is read
 * as `internal`, with the code it had named in the message.
 */
export type ParsedServerFrame = { readonly ok: true; readonly frame: ServerFrame } | { readonly ok: false; readonly reason: string };

export function parseServerFrame(data: string): ParsedServerFrame {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return refuse('the frame is not JSON');
  }
  if (!isRecord(value)) return refuse('the frame is not a JSON object');
  try {
    return { ok: true, frame: readFrame(value) };
  } catch (error) {
    if (error instanceof FrameError) return refuse(error.message);
    throw error;
  }
}

/** A status as the server sends it (in a frame, or in the publish API's answers), or undefined when a field a client relies on is missing. */
export function parseServerStatus(value: unknown): Status | undefined {
  try {
    return readStatus(value, 'status');
  } catch (error) {
    if (error instanceof FrameError) return undefined;
    throw error;
  }
}

const ERROR_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));
const isErrorCode = (code: string): code is ErrorCode => ERROR_CODES.has(code);

class FrameError extends Error {}

const refuse = (reason: string): ParsedServerFrame => ({ ok: false, reason });

function readFrame(value: Record<string, unknown>): ServerFrame {
  const type = value['type'];
  const id = optionalString(value, 'id');
  const withId = id === undefined ? {} : { id };
  switch (type) {
    case 'posted':
      return { type, ...withId, status: readStatus(value['status'], 'status') };
    case 'subscribed': {
      const missed = value['missed'];
      const truncated = value['truncated'];
      const positions = value['positions'];
      return {
        type,
        ...withId,
        channels: stringList(value['channels'], 'channels'),
        ...(missed === undefined ? {} : { missed: readMissed(missed) }),
        ...(truncated === undefined ? {} : { truncated: stringList(truncated, 'truncated') }),
        ...(positions === undefined ? {} : { positions: readPositions(positions) }),
      };
    }
    case 'unsubscribed':
      return { type, ...withId, channels: stringList(value['channels'], 'channels') };
    case 'history': {
      const next = optionalString(value, 'next');
      return {
        type,
        ...withId,
        channel: string(value['channel'], 'channel'),
        items: list(value['items'], 'items', readItem),
        ...(next === undefined ? {} : { next }),
      };
    }
    case 'feed': {
      const next = optionalString(value, 'next');
      return {
        type,
        ...withId,
        items: list(value['items'], 'items', (item, where) => ({ ...readStatus(item, where), ...optionalPosition(item as Record<string, unknown>, `${where}.pos`, 'pos') })),
        ...(next === undefined ? {} : { next }),
        ...optionalReplyCounts(value),
      };
    }
    case 'statuses': {
      const truncated = value['truncated'];
      return {
        type,
        ...withId,
        statuses: list(value['statuses'], 'statuses', readStatus),
        missing: stringList(value['missing'], 'missing'),
        ...(truncated === undefined ? {} : { truncated: stringList(truncated, 'truncated') }),
        ...optionalReplyCounts(value),
      };
    }
    case 'pong':
      return { type, ...withId };
    case 'followed':
    case 'unfollowed':
      return { type, ...withId, user: string(value['user'], 'user') };
    case 'following':
      return { type, ...withId, users: stringList(value['users'], 'users') };
    case 'presence':
      return { type, ...withId, users: list(value['users'], 'users', readPresence) };
    case 'status':
      return { type, channel: string(value['channel'], 'channel'), status: readStatus(value['status'], 'status'), ...optionalPosition(value, 'pos') };
    case 'notification':
      return { type, notification: readNotification(value['notification'], 'notification'), ...optionalPosition(value, 'pos') };
    case 'error': {
      const code = string(value['code'], 'code');
      const message = string(value['message'], 'message');
      const retryAfterMs = value['retryAfterMs'];
      return {
        type,
        ...withId,
        code: isErrorCode(code) ? code : ErrorCode.Internal,
        message: isErrorCode(code) ? message : `${message} (unknown error code ${JSON.stringify(code)})`,
        // Not in version 1 of the protocol: read when a server sends it, so a client can wait exactly that long.
        ...(typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) && retryAfterMs >= 0 ? { retryAfterMs } : {}),
      };
    }
    default:
      throw new FrameError(typeof type === 'string' ? `unknown frame type ${JSON.stringify(type.slice(0, 40))}` : 'the frame has no type');
  }
}

function readStatus(value: unknown, where: string): Status {
  if (!isRecord(value)) throw new FrameError(`${where} is not an object`);
  const replyTo = optionalString(value, 'replyTo');
  const thread = optionalString(value, 'thread');
  return {
    id: string(value['id'], `${where}.id`),
    author: string(value['author'], `${where}.author`),
    text: string(value['text'], `${where}.text`),
    createdAt: string(value['createdAt'], `${where}.createdAt`),
    ...(replyTo === undefined ? {} : { replyTo }),
    ...(thread === undefined ? {} : { thread }),
  };
}

function readNotification(value: unknown, where: string): Notification {
  if (!isRecord(value)) throw new FrameError(`${where} is not an object`);
  const kind = value['kind'];
  if (kind !== 'reply' && kind !== 'follow') throw new FrameError(`${where}.kind is not reply or follow`);
  const status = value['status'];
  return {
    id: string(value['id'], `${where}.id`),
    kind,
    from: string(value['from'], `${where}.from`),
    at: string(value['at'], `${where}.at`),
    ...(status === undefined ? {} : { status: readStatus(status, `${where}.status`) }),
  };
}

/** `missed` and `history` items: notifications (they have a `kind`) on `inbox:`, statuses elsewhere; each with its position when it has one. */
function readItem(value: unknown, where: string): ChannelEntry {
  const item = isRecord(value) && 'kind' in value ? readNotification(value, where) : readStatus(value, where);
  return isRecord(value) ? { ...item, ...optionalPosition(value, `${where}.pos`, 'pos') } : item;
}

/** `{pos}` when the field holds a position, `{}` when it is absent; anything else is refused. */
function optionalPosition(value: Record<string, unknown>, where: string, field = where): { pos?: Position } {
  const found = value[field];
  if (found === undefined) return {};
  return { pos: position(found, where) };
}

function position(value: unknown, where: string): Position {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new FrameError(`${where} is not a position (a whole number from 1)`);
  return value;
}

function readPositions(value: unknown): Record<ChannelName, Position> {
  if (!isRecord(value)) throw new FrameError('positions is not an object');
  const positions: Record<ChannelName, Position> = {};
  for (const [channel, found] of Object.entries(value)) {
    // 0: the channel has nothing in it yet.
    positions[channel] = found === 0 ? 0 : position(found, `positions[${channel}]`);
  }
  return positions;
}

/** `{replyCounts}` when the frame carries them: status id to a count of replies (0 or more). */
function optionalReplyCounts(value: Record<string, unknown>): { replyCounts?: ReplyCounts } {
  const found = value['replyCounts'];
  if (found === undefined) return {};
  if (!isRecord(found)) throw new FrameError('replyCounts is not an object');
  const counts: Record<string, number> = {};
  for (const [id, count] of Object.entries(found)) {
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) throw new FrameError(`replyCounts[${id}] is not a count`);
    counts[id] = count;
  }
  return { replyCounts: counts };
}

function readPresence(value: unknown, where: string): Presence {
  if (!isRecord(value)) throw new FrameError(`${where} is not an object`);
  const online = value['online'];
  if (typeof online !== 'boolean') throw new FrameError(`${where}.online is not true or false`);
  const lastSeen = optionalString(value, 'lastSeen');
  return { user: string(value['user'], `${where}.user`), online, ...(lastSeen === undefined ? {} : { lastSeen }) };
}

function readMissed(value: unknown): Record<ChannelName, readonly ChannelEntry[]> {
  if (!isRecord(value)) throw new FrameError('missed is not an object');
  const missed: Record<ChannelName, readonly ChannelEntry[]> = {};
  for (const [channel, items] of Object.entries(value)) missed[channel] = list(items, `missed[${channel}]`, readItem);
  return missed;
}

function list<T>(value: unknown, where: string, read: (item: unknown, where: string) => T): T[] {
  if (!Array.isArray(value)) throw new FrameError(`${where} is not a list`);
  return value.map((item: unknown, i) => read(item, `${where}[${i}]`));
}

const stringList = (value: unknown, where: string): string[] => list(value, where, string);

function string(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new FrameError(`${where} is not a string`);
  return value;
}

function optionalString(value: Record<string, unknown>, field: string): string | undefined {
  const found = value[field];
  return found === undefined ? undefined : string(found, field);
}

/** A JSON object: not null, not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
