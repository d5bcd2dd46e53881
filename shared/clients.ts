import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * SDK clients, built once per container by the handler modules. Endpoints come
 * from the SDK's own configuration (AWS_ENDPOINT_URL_DYNAMODB and friends), so
 * the local stack reaches these same clients without a code path of its own.
 * Fan-out's own clients (undici's pool, SQS) are in shared/fanout/clients.ts, so
 * that no other function's bundle carries them.
 */
export function documentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({ requestHandler: keepAliveHandler(50) }), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/**
 * The Management API client for one stage, for its rare calls (closing a
 * connection); fan-out posts go through shared/fanout/delivery-client.ts.
 * Sockets are kept alive and capped at `maxSockets`; the SDK's standard retry
 * mode retries throttling (429) and 5xx with exponential backoff and full
 * jitter, `maxAttempts` in all.
 */
export function managementClient(endpoint: string, maxSockets: number, maxAttempts = 3): ApiGatewayManagementApiClient {
  return new ApiGatewayManagementApiClient({
    endpoint,
    maxAttempts,
    retryMode: 'standard',
    requestHandler: keepAliveHandler(maxSockets),
  });
}

/** An HTTP handler that keeps up to `maxSockets` connections alive per host. */
export function keepAliveHandler(maxSockets: number): NodeHttpHandler {
  return new NodeHttpHandler({
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
  });
}
