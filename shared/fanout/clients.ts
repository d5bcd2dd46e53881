/**
 * The clients only fan-out and delivery use, apart from shared/clients.ts: undici (the delivery
 * client's pool) and the SQS client are half of a bundle, and every other function loads its
 * bundle without them.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { keepAliveHandler } from '../clients';
import { config } from '../config';
import { DeliveryClient } from './delivery-client';
import type { Pacer } from './pacer';

/**
 * Fan-out's client for the one call it makes per delivery (see delivery-client.ts), for this
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
