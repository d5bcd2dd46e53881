import type {
  APIGatewayEventRequestContextIAMAuthorizer,
  APIGatewayEventRequestContextV2,
  APIGatewayProxyEventV2WithRequestContext,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';
import { toError } from './errors';
import { logger } from './logger';
import { ErrorCode, ProtocolError, RateLimited, badRequest, validateHistory, type HistoryRequest } from './protocol';
import { HttpStatusOf } from './publish-api';

/**
 * What API Gateway's HTTP API sends a route of the publish API (payload format 2.0, IAM authorization).
 * The authorizer's part is read as possibly absent: it is input, and only logged.
 */
export type PublishEvent = APIGatewayProxyEventV2WithRequestContext<
  APIGatewayEventRequestContextV2 & { readonly authorizer?: { readonly iam?: Partial<APIGatewayEventRequestContextIAMAuthorizer['iam']> } }
>;

export type HttpResult = APIGatewayProxyStructuredResultV2 & { readonly statusCode: number; readonly body: string };

/** A handler's answer: the status and the JSON body. */
export interface HttpReply {
  readonly statusCode: number;
  readonly body: unknown;
}

/**
 * The edge every route of the publish API shares, as shared/edge.ts is for the WebSocket routes:
 * run the domain code, answer JSON. Errors become `{code, message}` with the HTTP status of their
 * protocol code here and nowhere else: `rate_limited` is 429 with Retry-After, an idempotency
 * conflict 409, and an unexpected error is logged and answered 500 `internal`, never with its
 * message or stack. The caller (the IAM principal API Gateway authorized) is logged with each line.
 */
export function httpHandler(run: (event: PublishEvent) => Promise<HttpReply>) {
  return async (event: PublishEvent): Promise<HttpResult> => {
    logger.appendKeys({ routeKey: event.routeKey, caller: event.requestContext.authorizer?.iam?.userArn });
    try {
      const reply = await run(event);
      return json(reply.statusCode, reply.body);
    } catch (error) {
      return errorResult(error);
    } finally {
      logger.removeKeys(['routeKey', 'caller']);
    }
  };
}

export function errorResult(error: unknown): HttpResult {
  if (error instanceof RateLimited) {
    // Retry-After is whole seconds (RFC 9110); the body keeps the milliseconds, as the WebSocket error frame does.
    const retryAfter = String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
    return json(HttpStatusOf[error.code], { code: error.code, message: error.message, retryAfterMs: error.retryAfterMs }, { 'retry-after': retryAfter });
  }
  if (error instanceof ProtocolError) return json(HttpStatusOf[error.code], { code: error.code, message: error.message });
  logger.error('request failed', { error: toError(error) });
  return json(HttpStatusOf[ErrorCode.Internal], { code: ErrorCode.Internal, message: 'internal error; try again' });
}

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** The request body as text: API Gateway base64-encodes bodies it takes for binary. */
export function bodyText(event: PublishEvent): string | undefined {
  if (event.body === undefined) return undefined;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

/**
 * A path parameter as the client meant it. A channel name's `:` may arrive percent-encoded; decoding
 * is safe whether or not API Gateway decoded it first, since no name or id the API takes holds `%`.
 */
export function pathParameter(event: PublishEvent, name: string): string {
  const raw = event.pathParameters?.[name];
  if (raw === undefined || raw === '') throw badRequest(`the path has no ${name}`);
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest(`${name} is not a valid percent-encoded path segment`);
  }
}

/**
 * The paging of a history route (`before`, `after`, `limit` in the query string), checked by the
 * WebSocket `history` validator: the same paging, the same words. API Gateway joins a repeated
 * parameter with commas, which no valid value holds, so it is refused.
 */
export function historyQuery(event: PublishEvent, channel: string): HistoryRequest {
  const query = event.queryStringParameters ?? {};
  const limit = query['limit'];
  return validateHistory({
    fields: {
      channel,
      before: query['before'],
      after: query['after'],
      // A whole number goes to the validator as one; anything else as given, for it to refuse.
      limit: limit !== undefined && /^\d+$/.test(limit) ? Number(limit) : limit,
    },
  });
}
