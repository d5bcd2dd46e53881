import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { presence } from '../shared/domain/social';
import { messageHandler } from '../shared/edge';
import { Limits, validatePresence } from '../shared/protocol';
import { ConnectionStore } from '../shared/store/connections';
import { FollowStore } from '../shared/store/follows';
import { PresenceStore } from '../shared/store/presence';

const db = documentClient();
const deps = {
  follows: new FollowStore(db, config.followsTable(), Limits.followsPerUser),
  connections: new ConnectionStore(db, config.connectionsTable()),
  presence: new PresenceStore(db, config.connectionsTable()),
  now: () => new Date(),
};

export const handler = messageHandler(validatePresence, async ({ caller, request }) => ({
  type: 'presence',
  users: await presence(deps, caller, request.users),
}));
