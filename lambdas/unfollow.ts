import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { unfollow } from '../shared/domain/social';
import { messageHandler } from '../shared/edge';
import { Limits, validateFollow } from '../shared/protocol';
import { ConnectionStore } from '../shared/store/connections';
import { FollowStore } from '../shared/store/follows';
import { SubscriptionStore } from '../shared/store/subscriptions';

const db = documentClient();
const connections = new ConnectionStore(db, config.connectionsTable());
const deps = {
  follows: new FollowStore(db, config.followsTable(), Limits.followsPerUser),
  connections,
  subscriptions: new SubscriptionStore(db, config.connectionsTable(), connections),
};

export const handler = messageHandler(validateFollow, async ({ caller, request }) => {
  await unfollow(deps, caller, request.user);
  return { type: 'unfollowed', user: request.user };
});
