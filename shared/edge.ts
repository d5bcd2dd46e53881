import type { APIGatewayEventWebsocketRequestContextV2, APIGatewayProxyWebsocketEventV2WithRequestContext } from 'aws-lambda';
import type { Caller } from './domain/channels';
import { logger } from './logger';
import { ErrorCode, ProtocolError, parseFrame, type Frame, type ServerFrame } from './protocol';

/** What the authorizer puts in the context; handlers take identity from here and never from a frame. */
export interface AuthorizerContext {
  readonly userId: string;
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
      const frame = parseFrame(event.body);
      requestId = frame.id;
      const request = validate(frame);
      const reply = await run({ caller: { userId: callerId(event), connectionId, connectedAt }, request, requestId });
      return respond({ ...reply, ...(requestId === undefined ? {} : { id: requestId }) } as ServerFrame);
    } catch (error) {
      return respond(errorFrame(error, requestId));
    } finally {
      logger.removeKeys(['connectionId']);
    }
  };
}

export function errorFrame(error: unknown, requestId?: string): ServerFrame {
  const withId = requestId === undefined ? {} : { id: requestId };
  if (error instanceof ProtocolError) return { type: 'error', ...withId, code: error.code, message: error.message };
  logger.error('request failed', { error: error as Error });
  return { type: 'error', ...withId, code: ErrorCode.Internal, message: 'internal error; try again' };
}

export const respond = (frame: ServerFrame): RouteResult => ({ statusCode: 200, body: JSON.stringify(frame) });

export function callerId(event: WebSocketEvent): string {
  const userId = event.requestContext.authorizer?.userId;
  if (typeof userId !== 'string') throw new Error('no userId in the authorizer context');
  return userId;
}
