import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { follow } from '../shared/domain/social';
import { messageHandler } from '../shared/edge';
import { newId } from '../shared/ids';
import { Limits, validateFollow } from '../shared/protocol';
import { ConnectionStore } from '../shared/store/connections';
import { FollowStore } from '../shared/store/follows';
import { PostLog } from '../shared/store/posts';

const db = documentClient();
const tables = { statuses: config.statusesTable(), connections: config.connectionsTable() };
const deps = {
  follows: new FollowStore(db, config.followsTable(), Limits.followsPerUser),
  connections: new ConnectionStore(db, tables.connections),
  log: new PostLog(db, tables),
  newId,
  now: () => new Date(),
};

export const handler = messageHandler(validateFollow, async ({ caller, request }) => {
  await follow(deps, caller, request.user);
  return { type: 'followed', user: request.user };
});
