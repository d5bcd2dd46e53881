import type { RouteResult, WebSocketEvent } from '../shared/edge';
import { config } from '../shared/config';
import { documentClient } from '../shared/clients';
import { logger } from '../shared/logger';
import { ConnectionSlots } from '../shared/store/connection-slots';
import { ConnectionStore } from '../shared/store/connections';
import { PresenceStore } from '../shared/store/presence';

const db = documentClient();
const connections = new ConnectionStore(db, config.connectionsTable());
const presence = new PresenceStore(db, config.connectionsTable());
// Only releases slots: the cap itself is $connect's to check.
const slots = new ConnectionSlots(db, config.connectionsTable(), config.maxConnectionsPerUser());

/**
 * `$disconnect` is best effort on API Gateway; rows it misses expire by TTL or go at the next Gone,
 * and a connection slot it misses is freed once the connection cannot be open any more (2 hours).
 */
export const handler = async (event: WebSocketEvent): Promise<RouteResult> => {
  const { connectionId, authorizer } = event.requestContext;
  // Set per invocation: a container serves one connection after another.
  logger.appendKeys({ connectionId });
  const userId = authorizer?.userId;
  await Promise.all([
    connections.remove(connectionId),
    userId ? presence.touch(userId, Date.now()) : Promise.resolve(),
    userId ? slots.release(userId, connectionId) : Promise.resolve(),
  ]);
  return { statusCode: 200 };
};
