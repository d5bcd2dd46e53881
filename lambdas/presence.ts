import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { presence } from '../shared/domain/social';
import { messageHandler } from '../shared/edge';
import { validatePresence } from '../shared/protocol';
import { ConnectionStore } from '../shared/store/connections';

const deps = { connections: new ConnectionStore(documentClient(), config.connectionsTable()), now: () => new Date() };

export const handler = messageHandler(validatePresence, async ({ request }) => ({
  type: 'presence',
  users: await presence(deps, request.users),
}));
