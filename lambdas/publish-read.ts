import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { readPage } from '../shared/domain/channels';
import { historyQuery, httpHandler, pathParameter } from '../shared/http-edge';
import { ErrorCode, ProtocolError, Rules, badRequest, isStatusId, parseChannel } from '../shared/protocol';
import { PublishRoute } from '../shared/publish-api';
import { StatusStore } from '../shared/store/statuses';

const deps = { statuses: new StatusStore(documentClient(), config.statusesTable()) };

/**
 * `GET /statuses/{id}` and `GET /channels/{channel}/history`. Inboxes are not read here: their
 * route is another, granted apart, and this function's role cannot read `inbox:` rows at all.
 */
export const handler = httpHandler(async (event) => {
  if (event.routeKey === PublishRoute.status) {
    const id = pathParameter(event, 'id');
    if (!isStatusId(id)) throw badRequest(`id must be a status id (${Rules.statusId})`);
    const status = await deps.statuses.get(id);
    if (!status) throw new ProtocolError(ErrorCode.NotFound, `no status has the id ${id}`);
    return { statusCode: 200, body: { status } };
  }
  if (event.routeKey === PublishRoute.history) {
    const channel = pathParameter(event, 'channel');
    if (parseChannel(channel)?.kind === 'inbox') {
      throw new ProtocolError(ErrorCode.Forbidden, 'inboxes are read at GET /inboxes/{user}/history, a route that needs a grant of its own');
    }
    return { statusCode: 200, body: await readPage(deps, historyQuery(event, channel)) };
  }
  throw new Error(`no such route here: ${event.routeKey}`);
});
