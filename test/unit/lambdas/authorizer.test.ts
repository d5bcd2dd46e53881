import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { SignJWT } from 'jose';
import { handler } from '../../../lambdas/authorizer';
import { signToken } from '../../../shared/auth';

const secrets = mockClient(SecretsManagerClient);
const SECRET = 'test-secret-of-sufficient-length-0123456789';
const METHOD_ARN = 'arn:aws:execute-api:us-east-1:000000000000:abc123defg/dev/$connect';

const connectEvent = (token?: string): APIGatewayRequestAuthorizerEvent =>
  ({ type: 'REQUEST', methodArn: METHOD_ARN, queryStringParameters: token === undefined ? {} : { token } }) as APIGatewayRequestAuthorizerEvent;

beforeAll(() => {
  secrets.on(GetSecretValueCommand).resolves({ SecretString: SECRET });
});

describe('authorizer', () => {
  it('allows a valid token, passes the user id in the context, and reads the secret once', async () => {
    const results = [];
    for (const user of ['alice', 'bob', 'carol']) results.push(await handler(connectEvent(await signToken(user, SECRET))));

    expect(results[0]).toEqual({
      principalId: 'alice',
      policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN }] },
      context: { userId: 'alice' },
    });
    expect(results.map((r) => r.context?.['userId'])).toEqual(['alice', 'bob', 'carol']);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  const sign = (claims: Record<string, unknown>, key = SECRET, alg = 'HS256') =>
    new SignJWT(claims).setProtectedHeader({ alg }).sign(new TextEncoder().encode(key));

  it.each([
    ['no token', async () => undefined],
    ['a malformed token', async () => 'not.a.jwt'],
    ['an expired token', async () => signToken('alice', SECRET, Math.floor(Date.now() / 1000) - 60)],
    ['a token signed with another key', async () => signToken('alice', 'another-secret-entirely-0123456789abcdef')],
    ['a token without expiry', async () => sign({ sub: 'alice' })],
    ['a token whose subject is not a user id', async () => sign({ sub: 'alice smith', exp: Math.floor(Date.now() / 1000) + 60 })],
    ['a token with no subject', async () => sign({ exp: Math.floor(Date.now() / 1000) + 60 })],
    ['an HS512 token', async () => sign({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 60 }, SECRET, 'HS512')],
  ])('refuses %s with Unauthorized (HTTP 401)', async (_, token) => {
    await expect(handler(connectEvent(await token()))).rejects.toThrow(/^Unauthorized$/);
  });
});
