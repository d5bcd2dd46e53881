import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { messageHandler } from '../shared/edge';
import { Limits } from '../shared/protocol';
import { FollowStore } from '../shared/store/follows';

const follows = new FollowStore(documentClient(), config.followsTable(), Limits.followsPerUser);

/** Who the caller follows, in user id order: what a client needs to build a home feed. */
export const handler = messageHandler(
  () => undefined,
  async ({ caller }) => ({ type: 'following', users: (await follows.following(caller.userId)).sort() }),
);
