import type { RouteResult, WebSocketEvent } from '../shared/edge';
import { config } from '../shared/config';
import { documentClient } from '../shared/clients';
import { logger } from '../shared/logger';
import { ConnectionStore } from '../shared/store/connections';
import { PresenceStore } from '../shared/store/presence';

const db = documentClient();
const connections = new ConnectionStore(db, config.connectionsTable());
const presence = new PresenceStore(db, config.connectionsTable());

/** `$disconnect` is best effort on API Gateway; rows it misses expire by TTL or go at the next Gone. */
export const handler = async (event: WebSocketEvent): Promise<RouteResult> => {
  const { connectionId, authorizer } = event.requestContext;
  // Set per invocation: a container serves one connection after another.
  logger.appendKeys({ connectionId });
  await Promise.all([
    connections.remove(connectionId),
    authorizer?.userId ? presence.touch(authorizer.userId, Date.now()) : Promise.resolve(),
  ]);
  return { statusCode: 200 };
};
