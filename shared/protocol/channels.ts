import { ChannelPrefix } from '../schema';
import { Limits } from './limits';
import type { ChannelName, UserId } from './types';

export type ChannelKind = 'user' | 'thread' | 'inbox';

export interface ParsedChannel {
  readonly kind: ChannelKind;
  /** The user id for `user:` and `inbox:`, the root status id for `thread:`. */
  readonly key: string;
}

/** Parses a channel name, or returns undefined when it names no channel of docs/protocol.md. */
export function parseChannel(name: string): ParsedChannel | undefined {
  const colon = name.indexOf(':');
  if (colon < 0) return undefined;
  const kind = name.slice(0, colon);
  const key = name.slice(colon + 1);
  switch (kind) {
    case 'user':
    case 'inbox':
      return Limits.userIdPattern.test(key) ? { kind, key } : undefined;
    case 'thread':
      return Limits.statusIdPattern.test(key) ? { kind, key } : undefined;
    default:
      return undefined;
  }
}

export const userChannel = (user: UserId): ChannelName => `${ChannelPrefix.user}${user}`;
export const threadChannel = (root: string): ChannelName => `${ChannelPrefix.thread}${root}`;
export const inboxChannel = (user: UserId): ChannelName => `${ChannelPrefix.inbox}${user}`;

/** `inbox:<id>` is readable by that user only; every other channel by anyone connected. */
export function mayRead(user: UserId, channel: ParsedChannel): boolean {
  return channel.kind !== 'inbox' || channel.key === user;
}
