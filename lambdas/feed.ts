import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { feed } from '../shared/domain/feed';
import { messageHandler } from '../shared/edge';
import { Limits, validateFeed } from '../shared/protocol';
import { FollowStore } from '../shared/store/follows';
import { ChannelHeads, RecentHeads } from '../shared/store/heads';
import { StatusStore } from '../shared/store/statuses';

const db = documentClient();
const deps = {
  follows: new FollowStore(db, config.followsTable(), Limits.followsPerUser),
  heads: new RecentHeads(new ChannelHeads(db, config.statusesTable())),
  statuses: new StatusStore(db, config.statusesTable()),
};

/** A page of the caller's home feed: their statuses and those of everyone they follow, newest first. */
export const handler = messageHandler(validateFeed, async ({ caller, request, charge }) => ({ type: 'feed', ...(await feed(deps, caller.userId, request, charge)) }));
