import { callerId, type RouteResult, type WebSocketEvent } from '../shared/edge';
import { config } from '../shared/config';
import { documentClient } from '../shared/clients';
import { ConnectionStore } from '../shared/store/connections';

const connections = new ConnectionStore(documentClient(), config.connectionsTable());

/** `$connect`, after the authorizer allowed it: record who is on this connection. */
export const handler = async (event: WebSocketEvent): Promise<RouteResult> => {
  const { connectionId, connectedAt } = event.requestContext;
  await connections.add(connectionId, callerId(event), connectedAt);
  return { statusCode: 200 };
};
