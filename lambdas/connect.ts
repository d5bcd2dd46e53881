import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { connect } from '../shared/domain/social';
import { callerId, type RouteResult, type WebSocketEvent } from '../shared/edge';
import { logger } from '../shared/logger';
import { Limits } from '../shared/protocol';
import { ConnectionStore } from '../shared/store/connections';
import { PresenceStore } from '../shared/store/presence';
import { FollowStore } from '../shared/store/follows';

const db = documentClient();
const deps = {
  follows: new FollowStore(db, config.followsTable(), Limits.followsPerUser),
  connections: new ConnectionStore(db, config.connectionsTable()),
  presence: new PresenceStore(db, config.connectionsTable()),
};

/**
 * `$connect`, after the authorizer allowed it: record who is on this
 * connection and subscribe it to everyone its user follows.
 */
export const handler = async (event: WebSocketEvent): Promise<RouteResult> => {
  const { connectionId, connectedAt } = event.requestContext;
  // Set per invocation: a container serves one connection after another.
  logger.appendKeys({ connectionId });
  await connect(deps, { userId: callerId(event), connectionId, connectedAt });
  return { statusCode: 200 };
};
