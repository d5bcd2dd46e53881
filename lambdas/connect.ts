import { documentClient } from '../shared/clients';
import { config } from '../shared/config';
import { connect } from '../shared/domain/social';
import { callerId, tokenExpiry, type RouteResult, type WebSocketEvent } from '../shared/edge';
import { logger } from '../shared/logger';
import { MetricName } from '../shared/metric-names';
import { countOne } from '../shared/metrics';
import { Limits } from '../shared/protocol';
import { Connections } from '../shared/schema';
import { ConnectionSlots } from '../shared/store/connection-slots';
import { ConnectionStore } from '../shared/store/connections';
import { FollowStore } from '../shared/store/follows';
import { PresenceStore } from '../shared/store/presence';
import { RateLimiter } from '../shared/store/rates';

const db = documentClient();
const maxConnections = config.maxConnectionsPerUser();
const connectRate = config.connectRate();
const deps = {
  follows: new FollowStore(db, config.followsTable(), Limits.followsPerUser),
  budget: new RateLimiter(db, config.connectionsTable(), connectRate, Connections.rows.churn),
  slots: new ConnectionSlots(db, config.connectionsTable(), maxConnections),
  connections: new ConnectionStore(db, config.connectionsTable()),
  presence: new PresenceStore(db, config.connectionsTable()),
  now: Date.now,
};

/**
 * `$connect`, after the authorizer allowed it (shared/domain/social.ts `connect`). A refused
 * handshake is answered 429: API Gateway passes the status on but no header or body, so the
 * client cannot be told when to come back; its full-jitter backoff spreads the retries.
 */
export const handler = async (event: WebSocketEvent): Promise<RouteResult> => {
  const { connectionId, connectedAt } = event.requestContext;
  // Set per invocation: a container serves one connection after another.
  logger.appendKeys({ connectionId });
  const userId = callerId(event);
  const outcome = await connect(deps, { userId, connectionId, connectedAt, ...tokenExpiry(event) });
  if (outcome.opened) return { statusCode: 200 };
  if (outcome.reason === 'cap') {
    logger.info('connection refused: the user has the most connections allowed', { userId, maxConnections });
    countOne(MetricName.connectionsRefused);
    return refused(`at most ${maxConnections} connections per user; close one first`);
  }
  logger.info('connection refused: the user is connecting faster than their connect budget allows', { userId, retryAfterMs: outcome.retryAfterMs, ...connectRate });
  countOne(MetricName.connectsThrottled);
  return refused(`too many connections opened; try again in ${Math.ceil(outcome.retryAfterMs / 1000)} s`);
};

const refused = (message: string): RouteResult => ({ statusCode: 429, body: JSON.stringify({ message }) });
