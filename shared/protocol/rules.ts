import { Limits } from './limits';

/**
 * The protocol's rules in words, for people: one wording for the CLI, the
 * browser app and the server's `bad_request` messages, built from the same
 * limits the validators check.
 */
export const Rules = {
  userId: `a user id is 1 to ${Limits.userIdMaxLength} letters, digits, _ or -`,
  statusId: 'a status id is a ULID: 26 letters and digits, as a status shows it',
  channel: 'a channel is user:<user id>, thread:<status id> or inbox:<user id>',
  text: `a status holds 1 to ${Limits.textMaxCodePoints} characters once trimmed`,
  historyLimit: `a history page holds 1 to ${Limits.historyMaxLimit} items`,
  feedLimit: `a feed page holds 1 to ${Limits.feedMaxLimit} items`,
  getIds: `get asks for 1 to ${Limits.getMaxIds} status ids at once`,
  presenceUsers: `presence asks about 1 to ${Limits.presenceMaxUsers} users at once`,
} as const;

/** Why a user id is refused, in words, or undefined when it is a user id. */
export function userIdProblem(user: string): string | undefined {
  if (Limits.userIdPattern.test(user)) return undefined;
  return user === '' ? `no user id given: ${Rules.userId}` : `${JSON.stringify(user)} is not a user id: ${Rules.userId}`;
}
