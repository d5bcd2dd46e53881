import { expect } from '@jest/globals';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handler } from '../../../lambdas/authorizer';
import { signToken } from '../../../shared/auth';
import { metricNames, withEmf } from '../../support/emf';

type Handler = (event: APIGatewayRequestAuthorizerEvent) => Promise<APIGatewayAuthorizerResult>;

const SECRET = 'test-secret-of-sufficient-length-0123456789';
const METHOD_ARN = 'arn:aws:execute-api:us-east-1:000000000000:abc123defg/dev/$connect';
const inMinutes = (minutes: number) => Math.floor(Date.now() / 1000) + minutes * 60;

const connectEvent = (token?: string): APIGatewayRequestAuthorizerEvent =>
  ({ type: 'REQUEST', methodArn: METHOD_ARN, queryStringParameters: token === undefined ? {} : { token } }) as APIGatewayRequestAuthorizerEvent;

/**
 * The authorizer reads its mode from the environment at module load, as on
 * Lambda: each mode is loaded in a module registry of its own, with the
 * Secrets Manager mock set up inside that registry.
 */
async function loadAuthorizer(env: Record<string, string>, secret?: string): Promise<Handler> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return await isolatedAuthorizer((sm, isolatedMock) => {
      if (secret !== undefined) isolatedMock(sm.SecretsManagerClient).on(sm.GetSecretValueCommand).resolves({ SecretString: secret });
      return Promise.resolve();
    });
  } finally {
    process.env = saved;
  }
}

/** The authorizer loaded in a module registry of its own, after `prepare` has set up mocks in that registry. */
async function isolatedAuthorizer(
  prepare: (sm: typeof import('@aws-sdk/client-secrets-manager'), isolatedMock: typeof mockClient) => Promise<void>,
): Promise<Handler> {
  let loaded: Handler | undefined;
  await jest.isolateModulesAsync(async () => {
    const { mockClient: isolatedMock } = await import('aws-sdk-client-mock');
    await prepare(await import('@aws-sdk/client-secrets-manager'), isolatedMock);
    ({ handler: loaded } = await import('../../../lambdas/authorizer'));
  });
  if (!loaded) throw new Error('the authorizer did not load');
  return loaded;
}

describe('authorizer, hs256 mode', () => {
  const secrets = mockClient(SecretsManagerClient);
  beforeAll(() => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: SECRET });
  });
  afterAll(() => secrets.restore());

  it('allows a valid token, passes the user id and expiry in the context, and reads the secret once', async () => {
    const exp = inMinutes(30);
    const results = [];
    for (const user of ['alice', 'bob', 'carol']) results.push(await handler(connectEvent(await signToken(user, SECRET, exp))));

    expect(results[0]).toEqual({
      principalId: 'alice',
      policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN }] },
      context: { userId: 'alice', tokenExpiresAt: exp },
    });
    expect(results.map((r) => r.context?.['userId'])).toEqual(['alice', 'bob', 'carol']);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  const sign = (claims: Record<string, unknown>, key = SECRET, alg = 'HS256') =>
    new SignJWT(claims).setProtectedHeader({ alg }).sign(new TextEncoder().encode(key));

  it.each([
    ['no token', () => Promise.resolve(undefined)],
    ['a malformed token', () => Promise.resolve('not.a.jwt')],
    ['an expired token', async () => signToken('alice', SECRET, Math.floor(Date.now() / 1000) - 60)],
    ['a token signed with another key', async () => signToken('alice', 'another-secret-entirely-0123456789abcdef')],
    ['a token without expiry', async () => sign({ sub: 'alice' })],
    ['a token whose subject is not a user id', async () => sign({ sub: 'alice smith', exp: inMinutes(1) })],
    ['a token with no subject', async () => sign({ exp: inMinutes(1) })],
    ['an HS512 token', async () => sign({ sub: 'alice', exp: inMinutes(1) }, SECRET, 'HS512')],
  ])('refuses %s with Unauthorized (HTTP 401)', async (_, token) => {
    await expect(handler(connectEvent(await token()))).rejects.toThrow(/^Unauthorized$/);
  });

  describe('the maximum token age (24 hours unless MAX_TOKEN_AGE_SECONDS says otherwise)', () => {
    it.each([
      ['a token issued more than 24 hours ago, though its exp is to come', () => sign({ sub: 'alice', iat: inMinutes(-24 * 60 - 1), exp: inMinutes(60) })],
      ['a token with no iat', () => sign({ sub: 'alice', exp: inMinutes(60) })],
      ['a token issued in the future', () => sign({ sub: 'alice', iat: inMinutes(10), exp: inMinutes(60) })],
    ])('refuses %s with Unauthorized (HTTP 401)', async (_, token) => {
      await expect(handler(connectEvent(await token()))).rejects.toThrow(/^Unauthorized$/);
    });

    it('ends the connection of a token whose exp is years away at its iat plus the maximum age', async () => {
      const iat = inMinutes(-60);
      const inYear2200 = Date.parse('2200-01-01T00:00:00Z') / 1000;

      const result = await handler(connectEvent(await sign({ sub: 'alice', iat, exp: inYear2200 })));

      expect(result.context).toEqual({ userId: 'alice', tokenExpiresAt: iat + 24 * 60 * 60 });
    });

    it('takes another maximum from the environment', async () => {
      const shortLived = await loadAuthorizer({ AUTH_MODE: 'hs256', MAX_TOKEN_AGE_SECONDS: '60' }, SECRET);

      await expect(shortLived(connectEvent(await sign({ sub: 'alice', iat: inMinutes(-2), exp: inMinutes(60) })))).rejects.toThrow(/^Unauthorized$/);
      expect((await shortLived(connectEvent(await sign({ sub: 'alice', iat: inMinutes(0), exp: inMinutes(60) })))).principalId).toBe('alice');
    });
  });

  it('accepts any audience when none is configured, so dev tokens and tokens with an aud both pass', async () => {
    const result = await handler(connectEvent(await signToken('alice', SECRET, '5m', { audience: 'something' })));
    expect(result.principalId).toBe('alice');
  });

  it('enforces the audience when one is configured', async () => {
    const strict = await loadAuthorizer({ AUTH_MODE: 'hs256', JWT_AUDIENCE: 'updraft-prod' }, SECRET);

    const right = await strict(connectEvent(await signToken('alice', SECRET, '5m', { audience: 'updraft-prod' })));

    expect(right.principalId).toBe('alice');
    await expect(strict(connectEvent(await signToken('alice', SECRET, '5m', { audience: 'updraft-dev' })))).rejects.toThrow(/^Unauthorized$/);
    await expect(strict(connectEvent(await signToken('alice', SECRET, '5m')))).rejects.toThrow(/^Unauthorized$/);
  });

  it('fails, not refuses, when the secret cannot be read, and counts it in AuthorizerFailures', async () => {
    const token = await signToken('alice', SECRET, '5m');

    const { outcome, documents } = await withEmf(async () => {
      const failing = await isolatedAuthorizer((sm, isolatedMock) => {
        isolatedMock(sm.SecretsManagerClient).on(sm.GetSecretValueCommand).rejects(new Error('AccessDeniedException'));
        return Promise.resolve();
      });
      return failing(connectEvent(token));
    });

    expect(outcome).toMatchObject({ status: 'rejected', reason: expect.objectContaining({ message: expect.stringMatching(/AccessDeniedException/) }) });
    expect(metricNames(documents)).toEqual(['AuthorizerFailures']);
    expect(documents[0]).toMatchObject({ service: 'updraft', stage: 'test', AuthorizerFailures: 1 });
  });
});

describe('authorizer, jwks mode', () => {
  const ISSUER = 'https://issuer.example.test/';
  const AUDIENCE = 'updraft-clients';
  let server: Server;
  let jwksUrl: string;
  let signingKey: CryptoKey;
  let strangerKey: CryptoKey;
  let jwksRequests = 0;
  let jwksStatus = 200;
  let jwksBody = '';

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    signingKey = pair.privateKey;
    strangerKey = (await generateKeyPair('RS256')).privateKey;
    jwksBody = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' }] });
    server = createServer((req, res) => {
      jwksRequests++;
      if (req.url !== '/.well-known/jwks.json' || jwksStatus !== 200) return void res.writeHead(jwksStatus === 200 ? 404 : jwksStatus).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwksBody);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });

  afterAll(async () => {
    // fetch keeps its sockets alive; close them, or the server (and Jest) would wait for them.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    jwksStatus = 200;
  });

  const oidc = () => loadAuthorizer({ AUTH_MODE: 'jwks', JWKS_URL: jwksUrl, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
  const cognito = () =>
    loadAuthorizer({ AUTH_MODE: 'jwks', JWKS_URL: jwksUrl, JWT_ISSUER: ISSUER, JWT_AUDIENCE: 'app-client-1', JWT_AUDIENCE_CLAIM: 'client_id', JWT_TOKEN_USE: 'access' });

  const sign = (claims: JWTPayload, options: { key?: CryptoKey; kid?: string; alg?: string } = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'RS256', kid: options.kid ?? 'key-1' }).sign(options.key ?? signingKey);
  // Issuers put `iat` in their tokens, as Cognito does; the maximum token age needs it.
  const valid = (extra: JWTPayload = {}): JWTPayload => ({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, iat: inMinutes(0), exp: inMinutes(10), ...extra });

  it('allows a token from the issuer, with its expiry in the context, and fetches the key set once per container', async () => {
    const authorize = await oidc();
    const before = jwksRequests;
    const exp = inMinutes(10);

    const first = await authorize(connectEvent(await sign(valid({ exp }))));
    const second = await authorize(connectEvent(await sign(valid({ sub: 'bob' }))));

    expect(first).toMatchObject({ principalId: 'alice', context: { userId: 'alice', tokenExpiresAt: exp } });
    expect(first.policyDocument.Statement).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN }]);
    expect(second.context?.['userId']).toBe('bob');
    expect(jwksRequests - before).toBe(1);
  });

  it.each([
    ['an expired token', () => sign(valid({ exp: inMinutes(-1) }))],
    ['a token without expiry', () => sign({ sub: 'alice', iss: ISSUER, aud: AUDIENCE })],
    ['a token for another audience', () => sign(valid({ aud: 'someone-else' }))],
    ['a token with no audience', () => sign({ sub: 'alice', iss: ISSUER, exp: inMinutes(10) })],
    ['a token from another issuer', () => sign(valid({ iss: 'https://evil.example.test/' }))],
    ['a token signed by a key not in the set', () => sign(valid(), { key: strangerKey, kid: 'key-2' })],
    ['a token signed by another key under a known kid', () => sign(valid(), { key: strangerKey })],
    ['an HS256 token (no algorithm confusion)', () => new SignJWT(valid()).setProtectedHeader({ alg: 'HS256', kid: 'key-1' }).sign(new TextEncoder().encode(SECRET))],
    ['a token whose subject is not a user id', () => sign(valid({ sub: 'alice@example.com' }))],
  ])('refuses %s with Unauthorized (HTTP 401)', async (_, token) => {
    await expect((await oidc())(connectEvent(await token()))).rejects.toThrow(/^Unauthorized$/);
  });

  it('fails, not refuses, when the key set cannot be fetched, and counts it in AuthorizerFailures', async () => {
    jwksStatus = 503;
    const token = await sign(valid());

    const { outcome, documents } = await withEmf(async () => (await oidc())(connectEvent(token)));

    expect(outcome.status).toBe('rejected');
    expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(Error);
    expect(((outcome as PromiseRejectedResult).reason as Error).message).not.toBe('Unauthorized');
    expect(metricNames(documents)).toEqual(['AuthorizerFailures']);
  });

  describe('Cognito access tokens (audience in client_id, token_use access)', () => {
    const cognitoClaims = (extra: JWTPayload = {}): JWTPayload => ({
      sub: '7f1c2a9e-1b2c-4d5e-8f90-0a1b2c3d4e5f',
      iss: ISSUER,
      client_id: 'app-client-1',
      token_use: 'access',
      iat: inMinutes(0),
      exp: inMinutes(60),
      ...extra,
    });

    it('allows an access token of the app client; the user id is its sub', async () => {
      const exp = inMinutes(60);
      const result = await (await cognito())(connectEvent(await sign(cognitoClaims({ exp }))));
      expect(result.context).toEqual({ userId: '7f1c2a9e-1b2c-4d5e-8f90-0a1b2c3d4e5f', tokenExpiresAt: exp });
    });

    it.each([
      ['an access token of another app client', cognitoClaims({ client_id: 'app-client-2' })],
      ['an ID token (token_use id, audience in aud)', { ...cognitoClaims({ token_use: 'id', aud: 'app-client-1' }), client_id: undefined }],
      ['a token with no client_id', { ...cognitoClaims(), client_id: undefined }],
      ['an expired access token', cognitoClaims({ exp: inMinutes(-1) })],
    ])('refuses %s', async (_, claims) => {
      await expect((await cognito())(connectEvent(await sign(claims)))).rejects.toThrow(/^Unauthorized$/);
    });
  });
});
