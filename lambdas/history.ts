import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { history } from '../shared/domain/channels';
import { messageHandler } from '../shared/edge';
import { validateHistory } from '../shared/protocol';
import { StatusStore } from '../shared/store/statuses';

const deps = { statuses: new StatusStore(documentClient(), config.statusesTable()) };

export const handler = messageHandler(validateHistory, async ({ caller, request }) => ({
  type: 'history',
  ...(await history(deps, caller.userId, request)),
}));
