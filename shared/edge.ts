import type { APIGatewayEventWebsocketRequestContextV2, APIGatewayProxyWebsocketEventV2WithRequestContext } from 'aws-lambda';
import type { Caller } from './domain/channels';
import { toError } from './errors';
import { logger } from './logger';
import { MetricName } from './metric-names';
import { countOne } from './metrics';
import { ErrorCode, ProtocolError, parseFrame, type Frame, type ServerFrame } from './protocol';

/** What the authorizer puts in the context; handlers take identity from here and never from a frame. */
export interface AuthorizerContext {
  readonly userId: string;
  /** The token's `exp`, seconds since the epoch. API Gateway may pass context numbers on as strings. */
  readonly tokenExpiresAt: number | string;
}

export type WebSocketEvent = APIGatewayProxyWebsocketEventV2WithRequestContext<
  APIGatewayEventWebsocketRequestContextV2 & { readonly authorizer?: Partial<AuthorizerContext> }
>;

/** A route response: API Gateway sends `body` back to the client as one message. */
export interface RouteResult {
  readonly statusCode: number;
  readonly body?: string;
}

type Reply = ServerFrame extends infer F ? (F extends { id?: string } ? Omit<F, 'id'> : never) : never;

export interface Request<T> {
  readonly caller: Caller;
  readonly request: T;
  /** The frame's `id`, echoed in the reply. */
  readonly requestId?: string;
}

/**
 * The edge every message route shares: parse the frame, validate it, run the
 * domain code as the authorized caller, and answer with exactly one frame.
 * Errors become protocol error codes here and nowhere else; an unexpected one
 * is logged and answered with `internal`, never with its message or stack.
 */
export function messageHandler<T>(validate: (frame: Frame) => T, run: (input: Request<T>) => Promise<Reply>) {
  return async (event: WebSocketEvent): Promise<RouteResult> => {
    const { connectionId, connectedAt } = event.requestContext;
    logger.appendKeys({ connectionId });
    let requestId: string | undefined;
    try {
      if (tokenExpired(event)) return await closeExpired(connectionId);
      const frame = parseFrame(event.body);
      requestId = frame.id;
      const request = validate(frame);
      const reply = await run({ caller: { userId: callerId(event), connectionId, connectedAt }, request, requestId });
      return respond({ ...reply, ...(requestId === undefined ? {} : { id: requestId }) });
    } catch (error) {
      return respond(errorFrame(error, requestId));
    } finally {
      logger.removeKeys(['connectionId']);
    }
  };
}

/**
 * API Gateway checks the token once, at the handshake, and keeps the connection
 * for up to 2 hours whatever the token says. Updraft cuts it at the first frame
 * the client sends after the token's expiry (a client pings within the 10-minute
 * idle timeout); one that never sends again lasts until API Gateway's limits.
 */
export function tokenExpired(event: WebSocketEvent, nowMs = Date.now()): boolean {
  const exp = Number(event.requestContext.authorizer?.tokenExpiresAt);
  return Number.isFinite(exp) && exp > 0 && nowMs >= exp * 1000;
}

async function closeExpired(connectionId: string): Promise<RouteResult> {
  logger.info('token expired: closing the connection');
  countOne(MetricName.expiredConnections);
  try {
    // Loaded when first needed: the SDK client would otherwise add to every route's cold start.
    const { closeConnection } = await import('./close-connection');
    await closeConnection(connectionId);
  } catch (error) {
    logger.warn('could not close a connection whose token expired', { error: toError(error) });
  }
  // Sent if API Gateway still can; the close is what the client acts on.
  return respond({ type: 'error', code: ErrorCode.Forbidden, message: 'token expired; reconnect with a new token' });
}

export function errorFrame(error: unknown, requestId?: string): ServerFrame {
  const withId = requestId === undefined ? {} : { id: requestId };
  if (error instanceof ProtocolError) return { type: 'error', ...withId, code: error.code, message: error.message };
  logger.error('request failed', { error: toError(error) });
  return { type: 'error', ...withId, code: ErrorCode.Internal, message: 'internal error; try again' };
}

export const respond = (frame: ServerFrame): RouteResult => ({ statusCode: 200, body: JSON.stringify(frame) });

export function callerId(event: WebSocketEvent): string {
  const userId = event.requestContext.authorizer?.userId;
  if (typeof userId !== 'string') throw new Error('no userId in the authorizer context');
  return userId;
}
