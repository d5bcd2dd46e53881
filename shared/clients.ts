import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { config } from './config';
import { DeliveryClient } from './fanout/delivery-client';
import type { Pacer } from './fanout/pacer';

/**
 * SDK clients, built once per container by the handler modules. Endpoints come
 * from the SDK's own configuration (AWS_ENDPOINT_URL_DYNAMODB and friends), so
 * the local stack reaches these same clients without a code path of its own.
 */
export function documentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({ requestHandler: keepAliveHandler(50) }), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/**
 * Fan-out's client for the one call it makes per delivery (see fanout/delivery-client.ts), for this
 * function's stage and region. The SDK's default chain is memoized: it reads the role's credentials
 * from the environment once, and again only as they near expiry.
 */
export function deliveryClient(maxSockets: number, pacer?: Pick<Pacer, 'take' | 'throttled'>): DeliveryClient {
  return new DeliveryClient({
    endpoint: config.connectionsEndpoint(),
    region: config.region(),
    credentials: defaultProvider(),
    maxSockets,
    ...(pacer ? { pacer } : {}),
  });
}

/** SQS, for the fan-out's delivery queue (AWS_ENDPOINT_URL_SQS points it at the local stack's). */
export function sqsClient(): SQSClient {
  return new SQSClient({ requestHandler: keepAliveHandler(16) });
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

function keepAliveHandler(maxSockets: number): NodeHttpHandler {
  return new NodeHttpHandler({
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
  });
}
