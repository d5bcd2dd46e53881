import { expect } from '@jest/globals';
import { allowed, checkSignature, matchRoute } from '../../../local/publish-api';
import type { HttpRouteModel } from '../../../local/template';

const NOW = Date.UTC(2026, 10, 28, 1, 2, 3);
const DATE = '20261128T010203Z';
const header = (credential: string, signedHeaders = 'host;x-amz-date', signature = 'a'.repeat(64)) =>
  `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
const signed = (authorization: string | undefined, amzDate: string | null = DATE) => ({
  headers: { ...(authorization === undefined ? {} : { authorization }), ...(amzDate === null ? {} : { 'x-amz-date': amzDate }) },
});

describe('the local SigV4 check: present and well formed, not verified', () => {
  it('takes a well-formed signature for execute-api and names its access key', () => {
    expect(checkSignature(signed(header('local/20261128/us-east-1/execute-api/aws4_request')), NOW)).toEqual({ ok: true, accessKeyId: 'local' });
  });

  it.each([
    ['no header', signed(undefined)],
    ['another scheme', signed('Bearer abc')],
    ['another service', signed(header('local/20261128/us-east-1/s3/aws4_request'))],
    ['a short signature', signed(header('local/20261128/us-east-1/execute-api/aws4_request', 'host', 'abc'))],
    ['host not signed', signed(header('local/20261128/us-east-1/execute-api/aws4_request', 'x-amz-date'))],
    ['no X-Amz-Date', signed(header('local/20261128/us-east-1/execute-api/aws4_request'), null)],
    ['a scope of another day', signed(header('local/20261127/us-east-1/execute-api/aws4_request'))],
    ['a signature 6 minutes old', signed(header('local/20261128/us-east-1/execute-api/aws4_request'), '20261128T005603Z')],
  ])('refuses %s', (_, request) => {
    expect(checkSignature(request, NOW).ok).toBe(false);
  });
});

describe("IAM's evaluation of the local principals' policies", () => {
  const arn = (tail: string) => `arn:aws:execute-api:us-east-1:000000000000:api1/$default/${tail}`;
  const publishPolicy = [{ effect: 'Allow' as const, actions: ['execute-api:Invoke'], resources: [arn('POST/statuses'), arn('GET/channels/*/history')] }];

  it('allows what an Allow names, with wildcards, and nothing else', () => {
    expect(allowed(publishPolicy, 'execute-api:Invoke', arn('POST/statuses'))).toBe(true);
    expect(allowed(publishPolicy, 'execute-api:Invoke', arn('GET/channels/user:ada/history'))).toBe(true);
    expect(allowed(publishPolicy, 'execute-api:Invoke', arn('GET/inboxes/ada/history'))).toBe(false);
    expect(allowed(publishPolicy, 'execute-api:ManageConnections', arn('POST/statuses'))).toBe(false);
  });

  it('lets an explicit Deny win', () => {
    const denied = [...publishPolicy, { effect: 'Deny' as const, actions: ['execute-api:*'], resources: [arn('POST/*')] }];
    expect(allowed(denied, 'execute-api:Invoke', arn('POST/statuses'))).toBe(false);
  });
});

describe('route matching', () => {
  const route = (routeKey: string): HttpRouteModel => {
    const [method = '', path = ''] = routeKey.split(' ');
    return { routeKey, method, segments: path.split('/').slice(1), functionId: 'Fn', authorizationType: 'AWS_IAM' };
  };
  const routes = [route('POST /statuses'), route('GET /statuses/{id}'), route('GET /channels/{channel}/history')];

  it('matches by method and segments, decoding parameters as HTTP APIs do', () => {
    expect(matchRoute(routes, 'GET', '/channels/user%3Aada/history')).toEqual({ route: routes[2], parameters: { channel: 'user:ada' } });
    expect(matchRoute(routes, 'GET', '/statuses')).toBeUndefined();
    expect(matchRoute(routes, 'POST', '/statuses/x')).toBeUndefined();
    expect(matchRoute(routes, 'GET', '/statuses/')).toBeUndefined();
  });
});
