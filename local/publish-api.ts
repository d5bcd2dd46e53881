import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isRecord } from '../shared/protocol/frames';
import { LOCAL_PUBLISH_PATH, LocalPublishPrincipals } from '../shared/publish-api';
import { gatewayId, requestTime } from './events';
import type { RequestSummary } from './gateway';
import { json, readBody, type HttpRoute } from './http';
import type { LocalFunction } from './lambda';
import type { HttpApiModel, HttpRouteModel } from './template';

/**
 * API Gateway's HTTP API as the publish API meets it on AWS: routes matched by method and path,
 * IAM authorization on every route, Lambda proxy integrations with payload format 2.0. It shares
 * the stack's one port under LOCAL_PUBLISH_PATH (on AWS the API has a host of its own).
 *
 * IAM locally: a request must carry a SigV4 Authorization header and X-Amz-Date, present and well
 * formed, but its signature is NOT checked (there are no secrets to check it against). The access
 * key it names is the principal: one of LocalPublishPrincipals, whose attached policies are the
 * template's own managed policies (found through the stack outputs they are named by), evaluated
 * against the route's ARN as IAM would: an explicit Deny wins, else an Allow is needed. What API
 * Gateway answers when that fails, it answers here: 403 `{"message":"Forbidden"}`.
 */

/** An IAM statement of a policy, its resources resolved to ARNs. */
export interface ResolvedStatement {
  readonly effect: 'Allow' | 'Deny';
  readonly actions: readonly string[];
  readonly resources: readonly string[];
}

export interface LocalPrincipal {
  readonly accessKeyId: string;
  readonly statements: readonly ResolvedStatement[];
}

export interface PublishApiOptions {
  readonly api: HttpApiModel;
  /** The id the API has locally: in its ARNs and in events. */
  readonly apiId: string;
  readonly region: string;
  readonly functions: ReadonlyMap<string, LocalFunction>;
  /** Who may sign, by access key id, with what their policies allow. */
  readonly principals: ReadonlyMap<string, LocalPrincipal>;
  readonly port: number;
  readonly log: (line: string) => void;
  readonly onRequest?: (request: RequestSummary) => void;
  readonly onEvent?: (kind: string, event: unknown) => void;
  readonly now?: () => number;
}

/** API Gateway's HTTP API payload limit. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** How far X-Amz-Date may be from now: SigV4's 5 minutes. */
const MAX_SKEW_MS = 5 * 60 * 1000;
const ACCOUNT_ID = '000000000000';

const SIGV4 =
  /^AWS4-HMAC-SHA256 Credential=([A-Za-z0-9_-]+)\/(\d{8})\/([a-z0-9-]+)\/execute-api\/aws4_request,\s*SignedHeaders=([a-z0-9-]+(?:;[a-z0-9-]+)*),\s*Signature=[0-9a-f]{64}$/;

export type SignatureCheck = { readonly ok: true; readonly accessKeyId: string } | { readonly ok: false; readonly why: string };

/** Whether the request carries a SigV4 signature for execute-api that is present and well formed; the signature itself is not verified. */
export function checkSignature(req: Pick<IncomingMessage, 'headers'>, nowMs: number): SignatureCheck {
  const authorization = req.headers.authorization;
  if (authorization === undefined) return { ok: false, why: 'no Authorization header' };
  const match = SIGV4.exec(authorization);
  if (!match) return { ok: false, why: 'the Authorization header is not a SigV4 signature for execute-api' };
  const [, accessKeyId = '', day, , signedHeaders = ''] = match;
  const amzDate = req.headers['x-amz-date'];
  if (typeof amzDate !== 'string' || !/^\d{8}T\d{6}Z$/.test(amzDate)) return { ok: false, why: 'no X-Amz-Date header of the form 20261128T010203Z' };
  if (amzDate.slice(0, 8) !== day) return { ok: false, why: "the credential's date is not X-Amz-Date's" };
  const signedAt = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
  if (Math.abs(nowMs - signedAt) > MAX_SKEW_MS) return { ok: false, why: 'the signature has expired (X-Amz-Date is more than 5 minutes from now)' };
  if (!signedHeaders.split(';').includes('host')) return { ok: false, why: 'SignedHeaders does not include host' };
  return { ok: true, accessKeyId };
}

/** IAM's wildcards in a resource: `*` any run of characters, `?` any one. */
function arnMatches(pattern: string, arn: string): boolean {
  const regex = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(arn);
}

const actionMatches = (pattern: string, action: string) => arnMatches(pattern.toLowerCase(), action.toLowerCase());

/** IAM's evaluation for one principal's identity policies: an explicit Deny wins, else some Allow must match. */
export function allowed(statements: readonly ResolvedStatement[], action: string, arn: string): boolean {
  const applies = (s: ResolvedStatement) => s.actions.some((a) => actionMatches(a, action)) && s.resources.some((r) => arnMatches(r, arn));
  if (statements.some((s) => s.effect === 'Deny' && applies(s))) return false;
  return statements.some((s) => s.effect === 'Allow' && applies(s));
}

/** The route a method and path (without LOCAL_PUBLISH_PATH) reach, with its path parameters, decoded as HTTP APIs decode them. */
export function matchRoute(routes: readonly HttpRouteModel[], method: string, path: string): { route: HttpRouteModel; parameters: Record<string, string> } | undefined {
  const segments = path.split('/').slice(1);
  for (const route of routes) {
    if (route.method !== method || route.segments.length !== segments.length) continue;
    const parameters: Record<string, string> = {};
    const fits = route.segments.every((expected, i) => {
      const given = segments[i] ?? '';
      const name = /^\{([^}+]+)\}$/.exec(expected)?.[1];
      if (name === undefined) return expected === given;
      if (given === '') return false;
      parameters[name] = decoded(given);
      return true;
    });
    if (fits) return { route, parameters };
  }
  return undefined;
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The publish API's HTTP route on the stack's port. */
export function publishApiRoute(options: PublishApiOptions): HttpRoute {
  const now = options.now ?? Date.now;
  return async (req, res, url) => {
    if (url.pathname !== LOCAL_PUBLISH_PATH && !url.pathname.startsWith(`${LOCAL_PUBLISH_PATH}/`)) return false;
    const started = now();
    const method = req.method ?? 'GET';
    const path = url.pathname.slice(LOCAL_PUBLISH_PATH.length) || '/';
    const summarize = (routeKey: string, user: string | undefined, status: number) =>
      options.onRequest?.({ user, routeKey, outcome: String(status), durationMs: now() - started, failed: status >= 500 });

    const matched = matchRoute(options.api.routes, method, path);
    if (!matched) {
      summarize(`${method} ${path}`, undefined, 404);
      gatewayAnswer(res, 404, 'Not Found');
      return true;
    }
    const { route, parameters } = matched;
    let principal: LocalPrincipal | undefined;
    if (route.authorizationType === 'AWS_IAM') {
      const signature = checkSignature(req, now());
      principal = signature.ok ? options.principals.get(signature.accessKeyId) : undefined;
      const arn = `arn:aws:execute-api:${options.region}:${ACCOUNT_ID}:${options.apiId}/${options.api.stageName}/${method}${path}`;
      if (!principal || !allowed(principal.statements, 'execute-api:Invoke', arn)) {
        const why = !signature.ok ? signature.why : !principal ? `no local principal has the access key ${signature.accessKeyId}` : `its policies do not allow execute-api:Invoke on ${arn}`;
        options.log(`publish API: ${route.routeKey} refused 403: ${why}`);
        summarize(route.routeKey, principal?.accessKeyId, 403);
        gatewayAnswer(res, 403, 'Forbidden');
        return true;
      }
    }
    const { body, size } = await readBody(req, MAX_BODY_BYTES);
    if (size > MAX_BODY_BYTES) {
      summarize(route.routeKey, principal?.accessKeyId, 413);
      gatewayAnswer(res, 413, 'Request Entity Too Large');
      return true;
    }
    const fn = options.functions.get(route.functionId);
    if (!fn) throw new Error(`route ${route.routeKey}: function ${route.functionId} is not in the template`);
    const event = httpEvent(options, req, url, route, parameters, principal, body, started);
    options.onEvent?.(route.routeKey, event);
    let status: number;
    try {
      status = answer(res, await fn.invoke(event));
    } catch (error) {
      options.log(`publish API: ${route.routeKey} failed: ${error instanceof Error ? error.message : String(error)}`);
      status = 500;
      gatewayAnswer(res, 500, 'Internal Server Error');
    }
    summarize(route.routeKey, principal?.accessKeyId, status);
    return true;
  };
}

/** What API Gateway answers itself: a JSON `{message}`. */
function gatewayAnswer(res: ServerResponse, status: number, message: string): void {
  json(res, status, { message }, { 'apigw-requestid': gatewayId() });
}

/** A payload format 2.0 event, as API Gateway makes it for a Lambda proxy integration. */
function httpEvent(
  options: PublishApiOptions,
  req: IncomingMessage,
  url: URL,
  route: HttpRouteModel,
  pathParameters: Record<string, string>,
  principal: LocalPrincipal | undefined,
  body: Buffer,
  startedMs: number,
): unknown {
  // Lower-case names, repeated headers joined with commas, and the ones API Gateway adds at its edge.
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  headers['x-amzn-trace-id'] = `Root=1-${Math.floor(startedMs / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
  headers['x-forwarded-for'] = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1';
  headers['x-forwarded-port'] = String(options.port);
  headers['x-forwarded-proto'] = 'http';
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) query[name] = name in query ? `${query[name] ?? ''},${value}` : value;
  const rawPath = decoded(url.pathname.slice(LOCAL_PUBLISH_PATH.length) || '/');
  const textual = body.length === 0 || /^(application\/(json|.*\+json|x-www-form-urlencoded)|text\/)/.test(req.headers['content-type'] ?? 'application/json');
  const requestId = gatewayId();
  const userArn = principal ? `arn:aws:iam::${ACCOUNT_ID}:user/${principal.accessKeyId}` : undefined;
  return {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath,
    rawQueryString: url.search.slice(1),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(Object.keys(pathParameters).length > 0 ? { pathParameters } : {}),
    requestContext: {
      accountId: ACCOUNT_ID,
      apiId: options.apiId,
      ...(principal && userArn
        ? {
            authorizer: {
              iam: { accessKey: principal.accessKeyId, accountId: ACCOUNT_ID, callerId: principal.accessKeyId, cognitoIdentity: null, principalOrgId: null, userArn, userId: principal.accessKeyId },
            },
          }
        : {}),
      domainName: `127.0.0.1:${options.port}`,
      domainPrefix: '127',
      http: { method: route.method, path: rawPath, protocol: `HTTP/${req.httpVersion}`, sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1', userAgent: req.headers['user-agent'] ?? '' },
      requestId,
      routeKey: route.routeKey,
      stage: options.api.stageName,
      time: requestTime(startedMs),
      timeEpoch: startedMs,
    },
    ...(body.length > 0 ? { body: textual ? body.toString('utf8') : body.toString('base64'), isBase64Encoded: !textual } : { isBase64Encoded: false }),
  };
}

/**
 * Writes what the function returned as API Gateway reads payload format 2.0: a structured result
 * (`statusCode`, `headers`, `body`, `isBase64Encoded`), or anything else as a 200 JSON body.
 */
function answer(res: ServerResponse, result: unknown): number {
  if (!isRecord(result) || typeof result['statusCode'] !== 'number') {
    json(res, 200, result ?? null, { 'apigw-requestid': gatewayId() });
    return 200;
  }
  const status = result['statusCode'];
  const headers: Record<string, string> = { 'apigw-requestid': gatewayId() };
  const given = result['headers'];
  if (isRecord(given)) {
    for (const [name, value] of Object.entries(given)) if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') headers[name.toLowerCase()] = String(value);
  }
  const rawBody = typeof result['body'] === 'string' ? result['body'] : '';
  const bytes = Buffer.from(rawBody, result['isBase64Encoded'] === true ? 'base64' : 'utf8');
  headers['content-length'] = String(bytes.length);
  res.writeHead(status, headers).end(bytes);
  return status;
}


/** The local principals, each with the statements of the managed policies the template's outputs name for it. */
export function localPrincipals(policyStatements: (outputName: string) => readonly ResolvedStatement[]): Map<string, LocalPrincipal> {
  return new Map(
    LocalPublishPrincipals.map((principal) => [principal.accessKeyId, { accessKeyId: principal.accessKeyId, statements: principal.policies.flatMap(policyStatements) }]),
  );
}
