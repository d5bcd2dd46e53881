import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { readPage } from '../shared/domain/channels';
import { historyQuery, httpHandler, pathParameter } from '../shared/http-edge';
import { Limits, Rules, badRequest, inboxChannel } from '../shared/protocol';
import { StatusStore } from '../shared/store/statuses';

const deps = { statuses: new StatusStore(documentClient(), config.statusesTable()) };

/**
 * `GET /inboxes/{user}/history`: a user's notifications, for a backend whose role was granted this
 * route (the stack's read-inboxes policy). IAM decided who may call it; this function's role reads
 * `inbox:` rows and no other.
 */
export const handler = httpHandler(async (event) => {
  const user = pathParameter(event, 'user');
  if (!Limits.userIdPattern.test(user)) throw badRequest(`user must be a user id (${Rules.userId})`);
  return { statusCode: 200, body: await readPage(deps, historyQuery(event, inboxChannel(user))) };
});
