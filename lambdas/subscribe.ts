import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { subscribe } from '../shared/domain/channels';
import { messageHandler } from '../shared/edge';
import { validateSubscribe } from '../shared/protocol';
import { ConnectionStore } from '../shared/store/connections';
import { ChannelHeads } from '../shared/store/heads';
import { StatusStore } from '../shared/store/statuses';
import { SubscriptionStore } from '../shared/store/subscriptions';

const db = documentClient();
const deps = {
  subscriptions: new SubscriptionStore(db, config.connectionsTable(), new ConnectionStore(db, config.connectionsTable())),
  statuses: new StatusStore(db, config.statusesTable()),
  heads: new ChannelHeads(db, config.statusesTable()),
  maxSubscriptions: config.maxSubscriptions(),
};

export const handler = messageHandler(validateSubscribe, async ({ caller, request }) => ({
  type: 'subscribed',
  ...(await subscribe(deps, caller, request)),
}));
