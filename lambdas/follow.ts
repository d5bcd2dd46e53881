import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { follow } from '../shared/domain/social';
import { messageHandler } from '../shared/edge';
import { newId } from '../shared/ids';
import { Limits, validateFollow } from '../shared/protocol';
import { ConnectionStore } from '../shared/store/connections';
import { FollowNoticeStore } from '../shared/store/follow-notices';
import { FollowStore } from '../shared/store/follows';
import { ClaimStore } from '../shared/store/claims';
import { PostLog } from '../shared/store/posts';
import { PresenceStore } from '../shared/store/presence';
import { SubscriptionStore } from '../shared/store/subscriptions';

const db = documentClient();
const connections = new ConnectionStore(db, config.connectionsTable());
const deps = {
  follows: new FollowStore(db, config.followsTable(), Limits.followsPerUser),
  connections,
  subscriptions: new SubscriptionStore(db, config.connectionsTable(), connections),
  presence: new PresenceStore(db, config.connectionsTable()),
  notices: new FollowNoticeStore(db, config.connectionsTable()),
  log: new PostLog(db, config.statusesTable(), new ClaimStore(db, config.connectionsTable())),
  newId,
  now: () => new Date(),
};

export const handler = messageHandler(validateFollow, async ({ caller, request }) => {
  await follow(deps, caller, request.user);
  return { type: 'followed', user: request.user };
});
