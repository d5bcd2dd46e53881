import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { InvalidToken, tokenVerifier, type AuthSettings, type Identity } from '../shared/auth';
import { config } from '../shared/config';
import { toError } from '../shared/errors';
import { logger } from '../shared/logger';
import { MetricName } from '../shared/metric-names';
import { countOne } from '../shared/metrics';

/** The secret is fetched once per container and cached; a rotated one is picked up within this time. */
const SECRET_CACHE_SECONDS = 15 * 60;

function settings(): AuthSettings {
  const maxTokenAgeSeconds = config.maxTokenAgeSeconds();
  if (config.authMode() === 'hs256') {
    const secretArn = config.jwtSecretArn();
    return {
      mode: 'hs256',
      maxTokenAgeSeconds,
      audience: config.jwtAudience(),
      secret: async () => {
        const secret = await getSecret<string>(secretArn, { maxAge: SECRET_CACHE_SECONDS });
        if (typeof secret !== 'string') throw new Error('the JWT secret is not a string');
        return secret;
      },
    };
  }
  const audience = config.jwtAudience();
  if (audience.length === 0) throw new Error('jwks mode needs JWT_AUDIENCE');
  const tokenUse = config.jwtTokenUse();
  return {
    mode: 'jwks',
    maxTokenAgeSeconds,
    jwksUrl: config.jwksUrl(),
    issuer: config.jwtIssuer(),
    audience,
    audienceClaim: config.jwtAudienceClaim(),
    ...(tokenUse === undefined ? {} : { tokenUse }),
  };
}

/** Keys (the secret, or the issuer's JWKS) are cached by the verifier across invocations of a container. */
const verify = tokenVerifier(settings());

/**
 * REQUEST authorizer on `$connect`. Throwing "Unauthorized" makes API Gateway
 * refuse the handshake with 401; an Allow passes the user id, and when the
 * token expires, in the context that every later route of the connection sees.
 * A failure to check the token at all (no key to be had) is thrown as itself:
 * API Gateway answers 500, and the AuthorizerFailures metric raises an alarm.
 */
export const handler = async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
  const token = event.queryStringParameters?.['token'];
  if (!token) throw new Error('Unauthorized');
  let identity: Identity;
  try {
    identity = await verify(token);
  } catch (error) {
    if (error instanceof InvalidToken) {
      logger.info('token refused', { reason: error.message });
      // API Gateway reads the message only: "Unauthorized" is a 401.
      throw new Error('Unauthorized', { cause: error });
    }
    logger.error('could not check a token', { error: toError(error) });
    countOne(MetricName.authorizerFailures);
    throw error;
  }
  return {
    principalId: identity.userId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
    },
    context: { userId: identity.userId, tokenExpiresAt: identity.expiresAt },
  };
};
