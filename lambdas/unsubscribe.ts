import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { unsubscribe } from '../shared/domain/channels';
import { messageHandler } from '../shared/edge';
import { validateUnsubscribe } from '../shared/protocol';
import { ConnectionStore } from '../shared/store/connections';
import { SubscriptionStore } from '../shared/store/subscriptions';

const db = documentClient();
const deps = { subscriptions: new SubscriptionStore(db, config.connectionsTable(), new ConnectionStore(db, config.connectionsTable())) };

export const handler = messageHandler(validateUnsubscribe, async ({ caller, request }) => ({
  type: 'unsubscribed',
  ...(await unsubscribe(deps, caller, request.channels)),
}));
