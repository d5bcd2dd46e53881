import type { RouteResult, WebSocketEvent } from '../shared/edge';
import { config } from '../shared/config';
import { documentClient } from '../shared/clients';
import { ConnectionStore } from '../shared/store/connections';

const connections = new ConnectionStore(documentClient(), config.connectionsTable());

/** `$disconnect` is best effort on API Gateway; rows it misses expire by TTL or go at the next Gone. */
export const handler = async (event: WebSocketEvent): Promise<RouteResult> => {
  await connections.remove(event.requestContext.connectionId);
  return { statusCode: 200 };
};
