import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Events shaped as API Gateway sends them to Lambda (see test/events/ for the
 * fixtures these are checked against).
 */

export interface ApiIdentity {
  readonly apiId: string;
  readonly stage: string;
  readonly domainName: string;
  readonly region: string;
}

export interface ConnectionFacts {
  readonly connectionId: string;
  readonly connectedAt: number;
  readonly sourceIp: string;
  readonly userAgent?: string;
  /** The authorizer's context plus principalId and integrationLatency, as API Gateway passes it on. */
  readonly authorizer?: Record<string, unknown>;
}

/** API Gateway's request and message ids: 12 random bytes, base64. */
/** Random bytes drawn 4 KB at a time: one getrandom call per 341 ids, not one per id. */
let entropy = Buffer.alloc(0);
let drawn = 0;
function randomSlice(bytes: number): Buffer {
  if (drawn + bytes > entropy.length) {
    entropy = randomBytes(4096);
    drawn = 0;
  }
  drawn += bytes;
  return entropy.subarray(drawn - bytes, drawn);
}

export const gatewayId = () => randomSlice(12).toString('base64url').slice(0, 15) + '=';

/** `21/Nov/2026:21:02:44 +0000`, the CLF time API Gateway writes in requestTime. */
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

export function requestTime(epochMs: number): string {
  const d = new Date(epochMs);
  // Not toLocaleString: it builds an Intl.DateTimeFormat per call, milliseconds each, on every frame.
  const month = MONTHS[d.getUTCMonth()] ?? '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getUTCDate())}/${month}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

function requestContext(api: ApiIdentity, connection: ConnectionFacts, routeKey: string, eventType: string, now: number) {
  const requestId = gatewayId();
  return {
    routeKey,
    eventType,
    extendedRequestId: requestId,
    requestTime: requestTime(now),
    messageDirection: 'IN',
    stage: api.stage,
    connectedAt: connection.connectedAt,
    requestTimeEpoch: now,
    identity: connection.userAgent === undefined ? { sourceIp: connection.sourceIp } : { userAgent: connection.userAgent, sourceIp: connection.sourceIp },
    requestId,
    domainName: api.domainName,
    connectionId: connection.connectionId,
    apiId: api.apiId,
  };
}

/** Headers as API Gateway forwards them on $connect: single- and multi-value forms. */
export function headerMaps(req: IncomingMessage, port: number) {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  // rawHeaders alternates names and values.
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] ?? '';
    const value = req.rawHeaders[i + 1] ?? '';
    // Hop-by-hop headers of the upgrade stay at API Gateway's edge.
    if (/^(connection|upgrade)$/i.test(name)) continue;
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
    (multiValueHeaders[name] ??= []).push(value);
  }
  const forwarded = {
    'X-Amzn-Trace-Id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`,
    'X-Forwarded-For': req.socket.remoteAddress ?? '127.0.0.1', 'X-Forwarded-Port': String(port), 'X-Forwarded-Proto': 'http' };
  for (const [name, value] of Object.entries(forwarded)) {
    headers[name] = value;
    multiValueHeaders[name] = [value];
  }
  return { headers, multiValueHeaders };
}

export function queryMaps(url: URL) {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    single[name] = value;
    (multi[name] ??= []).push(value);
  }
  return Object.keys(single).length === 0 ? {} : { queryStringParameters: single, multiValueQueryStringParameters: multi };
}

export function authorizerEvent(api: ApiIdentity, connection: ConnectionFacts, req: IncomingMessage, url: URL, port: number, now: number) {
  return {
    type: 'REQUEST',
    methodArn: `arn:aws:execute-api:${api.region}:000000000000:${api.apiId}/${api.stage}/$connect`,
    ...headerMaps(req, port),
    ...queryMaps(url),
    stageVariables: {},
    requestContext: requestContext(api, connection, '$connect', 'CONNECT', now),
  };
}

export function connectEvent(api: ApiIdentity, connection: ConnectionFacts, req: IncomingMessage, url: URL, port: number, now: number) {
  return {
    ...headerMaps(req, port),
    ...queryMaps(url),
    requestContext: { ...requestContext(api, connection, '$connect', 'CONNECT', now), authorizer: connection.authorizer },
    isBase64Encoded: false,
  };
}

export function messageEvent(api: ApiIdentity, connection: ConnectionFacts, routeKey: string, body: string, now: number) {
  const context = requestContext(api, connection, routeKey, 'MESSAGE', now);
  return {
    requestContext: { ...context, messageId: gatewayId(), authorizer: connection.authorizer },
    body,
    isBase64Encoded: false,
  };
}

export function disconnectEvent(api: ApiIdentity, connection: ConnectionFacts, statusCode: number, reason: string, now: number) {
  return {
    requestContext: {
      ...requestContext(api, connection, '$disconnect', 'DISCONNECT', now),
      disconnectStatusCode: statusCode,
      disconnectReason: reason,
      authorizer: connection.authorizer,
    },
    isBase64Encoded: false,
  };
}
