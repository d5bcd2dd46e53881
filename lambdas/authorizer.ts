import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { verifyToken } from '../shared/auth';
import { config } from '../shared/config';
import { logger } from '../shared/logger';

const secretArn = config.jwtSecretArn();
/** The secret is fetched once per container and cached; a rotated one is picked up within this time. */
const SECRET_CACHE_SECONDS = 15 * 60;

/**
 * REQUEST authorizer on `$connect`. Throwing "Unauthorized" makes API Gateway
 * refuse the handshake with 401; an Allow passes the user id in the context.
 */
export const handler = async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
  const token = event.queryStringParameters?.['token'];
  if (!token) throw new Error('Unauthorized');
  const secret = await getSecret<string>(secretArn, { maxAge: SECRET_CACHE_SECONDS });
  if (typeof secret !== 'string') throw new Error('the JWT secret is not a string');
  let userId: string;
  try {
    userId = await verifyToken(token, secret);
  } catch (error) {
    logger.info('token refused', { reason: (error as Error).message });
    throw new Error('Unauthorized');
  }
  return {
    principalId: userId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
    },
    context: { userId },
  };
};
