import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { connect } from '../shared/domain/social';
import { callerId, tokenExpiry, type RouteResult, type WebSocketEvent } from '../shared/edge';
import { logger } from '../shared/logger';
import { MetricName } from '../shared/metric-names';
import { countOne } from '../shared/metrics';
import { Limits } from '../shared/protocol';
import { ConnectionSlots } from '../shared/store/connection-slots';
import { ConnectionStore } from '../shared/store/connections';
import { PresenceStore } from '../shared/store/presence';
import { FollowStore } from '../shared/store/follows';

const db = documentClient();
const maxConnections = config.maxConnectionsPerUser();
const slots = new ConnectionSlots(db, config.connectionsTable(), maxConnections);
const deps = {
  follows: new FollowStore(db, config.followsTable(), Limits.followsPerUser),
  connections: new ConnectionStore(db, config.connectionsTable()),
  presence: new PresenceStore(db, config.connectionsTable()),
};

/**
 * `$connect`, after the authorizer allowed it: take one of the user's
 * connection slots (else refuse the handshake with 429, storing nothing),
 * record who is on this connection and subscribe it to everyone its user follows.
 */
export const handler = async (event: WebSocketEvent): Promise<RouteResult> => {
  const { connectionId, connectedAt } = event.requestContext;
  // Set per invocation: a container serves one connection after another.
  logger.appendKeys({ connectionId });
  const userId = callerId(event);
  if (!(await slots.claim(userId, connectionId, Date.now()))) {
    logger.info('connection refused: the user has the most connections allowed', { userId, maxConnections });
    countOne(MetricName.connectionsRefused);
    return { statusCode: 429, body: JSON.stringify({ message: `at most ${maxConnections} connections per user; close one first` }) };
  }
  try {
    await connect(deps, { userId, connectionId, connectedAt, ...tokenExpiry(event) });
  } catch (error) {
    // A failed $connect refuses the handshake, and API Gateway runs no $disconnect for it.
    await slots.release(userId, connectionId);
    throw error;
  }
  return { statusCode: 200 };
};
