import type { APIGatewayEventWebsocketRequestContextV2, APIGatewayProxyWebsocketEventV2WithRequestContext } from 'aws-lambda';
import type { Caller, Charge } from './domain/channels';
import { toError } from './errors';
import { logger } from './logger';
import { MetricName } from './metric-names';
import { countOne } from './metrics';
import { config } from './config';
import { ErrorCode, MAX_ACTION_COST, ProtocolError, RateLimited, actionCost, parseFrame, type Frame, type ServerFrame } from './protocol';
import type { RateLimiter } from './store/rates';

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
  /** More units for the caller's action budget, for work the up-front cost could not foresee. */
  readonly charge: Charge;
}

/** A user's action budget: a bucket of cost units across all their connections (shared/protocol/costs.ts). */
export type ActionBudget = Pick<RateLimiter, 'take'>;

export interface MessageHandlerOptions {
  /** @default the user's bucket in the Connections table (ACTION_RATE_BURST, ACTION_RATE_PER_SECOND) */
  readonly budget?: () => Promise<ActionBudget>;
}

/**
 * The edge every message route shares: parse the frame, validate it, charge
 * its cost to the user's action budget, run the domain code as the authorized
 * caller, and answer with exactly one frame. A frame over budget is answered
 * `rate_limited` before anything of it is read or written. Errors become
 * protocol error codes here and nowhere else; an unexpected one is logged and
 * answered with `internal`, never with its message or stack.
 */
export function messageHandler<T>(validate: (frame: Frame) => T, run: (input: Request<T>) => Promise<Reply>, options: MessageHandlerOptions = {}) {
  const budget = options.budget ?? actionBudget;
  return async (event: WebSocketEvent): Promise<RouteResult> => {
    const { connectionId, connectedAt } = event.requestContext;
    logger.appendKeys({ connectionId });
    let requestId: string | undefined;
    try {
      if (tokenExpired(event)) return await closeExpired(connectionId);
      const frame = parseFrame(event.body);
      requestId = frame.id;
      const request = validate(frame);
      const userId = callerId(event);
      const cost = actionCost(frame);
      if (cost > 0) await charge(await budget(), userId, cost);
      // The bucket holds at most its burst: a frame whose work costs more is charged the whole
      // burst (up front and more together), so that a full bucket can always pay it.
      const more: Charge = async (units) => {
        const payable = Math.min(units, config.actionRate().burst - cost);
        if (payable > 0) await charge(await budget(), userId, payable);
      };
      const reply = await run({ caller: { userId, connectionId, connectedAt, ...tokenExpiry(event) }, request, requestId, charge: more });
      return respond({ ...reply, ...(requestId === undefined ? {} : { id: requestId }) });
    } catch (error) {
      return respond(errorFrame(error, requestId));
    } finally {
      logger.removeKeys(['connectionId']);
    }
  };
}

/**
 * The bucket's row is `budget#<userId>`, a kind of row of its own, so that the functions charged
 * here can be granted it without reaching the post budget's `rate#<userId>`.
 */
async function charge(budget: ActionBudget, userId: string, cost: number): Promise<void> {
  const result = await budget.take(userId, Date.now(), cost);
  if (result.allowed) return;
  countOne(MetricName.rateLimited);
  throw new RateLimited(`too many requests; try again in ${Math.ceil(result.retryAfterMs / 100) / 10} s`, result.retryAfterMs);
}

let sharedBudget: Promise<ActionBudget> | undefined;

/**
 * The action budget, made at the first charged frame: `ping` (free) never loads
 * the DynamoDB client. A burst too small for the costliest frame fails loudly.
 */
function actionBudget(): Promise<ActionBudget> {
  sharedBudget ??= (async () => {
    const limit = config.actionRate();
    if (limit.burst < MAX_ACTION_COST) throw new Error(`the action budget's burst must be at least ${MAX_ACTION_COST}, the costliest frame`);
    const [{ documentClient }, { RateLimiter }, { Connections }] = await Promise.all([import('./clients'), import('./store/rates'), import('./schema')]);
    return new RateLimiter(documentClient(), config.connectionsTable(), limit, Connections.rows.budget);
  })();
  return sharedBudget;
}

/**
 * API Gateway checks the token once, at the handshake, and keeps the connection
 * for up to 2 hours whatever the token says. Updraft cuts it at the first frame
 * the client sends after the token's expiry (a client pings within the 10-minute
 * idle timeout); one that never sends again is closed by fan-out at the first
 * delivery due to it after expiry (its subscription rows carry the expiry).
 */
export function tokenExpired(event: WebSocketEvent, nowMs = Date.now()): boolean {
  const { tokenExpiresAt } = tokenExpiry(event);
  return tokenExpiresAt !== undefined && nowMs >= tokenExpiresAt * 1000;
}

/** The token's expiry from the authorizer context, epoch seconds, when there is a valid one. */
export function tokenExpiry(event: WebSocketEvent): { tokenExpiresAt?: number } {
  const exp = Number(event.requestContext.authorizer?.tokenExpiresAt);
  return Number.isFinite(exp) && exp > 0 ? { tokenExpiresAt: exp } : {};
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
  if (error instanceof RateLimited) return { type: 'error', ...withId, code: error.code, message: error.message, retryAfterMs: error.retryAfterMs };
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
