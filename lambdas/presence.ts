import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { presence } from '../shared/domain/social';
import { messageHandler } from '../shared/edge';
import { validatePresence } from '../shared/protocol';
import { ConnectionStore } from '../shared/store/connections';
import { PresenceStore } from '../shared/store/presence';

const db = documentClient();
const deps = {
  connections: new ConnectionStore(db, config.connectionsTable()),
  presence: new PresenceStore(db, config.connectionsTable()),
  now: () => new Date(),
};

export const handler = messageHandler(validatePresence, async ({ request }) => ({
  type: 'presence',
  users: await presence(deps, request.users),
}));
