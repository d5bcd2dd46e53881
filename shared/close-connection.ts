import { DeleteConnectionCommand, type ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { managementClient } from './clients';
import { config } from './config';

// Built on the first expired token only: most containers never need it.
let gateway: ApiGatewayManagementApiClient | undefined;

/** Closes a connection through the Management API (DELETE @connections/{id}). */
export async function closeConnection(connectionId: string): Promise<void> {
  gateway ??= managementClient(config.connectionsEndpoint(), 1, 2);
  await gateway.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
}
