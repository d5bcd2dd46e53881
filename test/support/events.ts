import type { WebSocketEvent } from '../../shared/edge';
import message from '../events/apigateway/message.json';

export interface EventOptions {
  readonly userId?: string;
  readonly connectionId?: string;
  readonly routeKey?: string;
}

/** A message event as API Gateway sends it (test/events/apigateway/message.json), with this body and caller. */
export function messageEvent(body: unknown, options: EventOptions = {}): WebSocketEvent {
  const { requestContext } = structuredClone(message);
  return {
    ...structuredClone(message),
    body: typeof body === 'string' ? body : JSON.stringify(body),
    requestContext: {
      ...requestContext,
      routeKey: options.routeKey ?? requestContext.routeKey,
      connectionId: options.connectionId ?? requestContext.connectionId,
      authorizer: { ...requestContext.authorizer, userId: options.userId ?? 'alice' },
    },
  } as WebSocketEvent;
}

/** The frame a route handler answered with. */
export function replyOf(result: { body?: string }): Record<string, unknown> {
  if (result.body === undefined) throw new Error('the handler sent no reply');
  return JSON.parse(result.body) as Record<string, unknown>;
}

/**
 * Handler tests mock DynamoDB as a whole, and every charged frame first takes from its
 * user's action budget (shared/edge.ts): this lets that one write through, whatever a test
 * makes the other updates do (a stub for these inputs wins over a stub for any input).
 * The budget itself is tested in test/unit/shared/edge.test.ts and against DynamoDB Local.
 */
export const ACTION_BUDGET_ROW = { Key: { sk: 'rate' } };

/** Whether an UpdateItem input is the action budget's, not the handler's own work. */
export const isBudgetUpdate = (input: { Key?: Record<string, unknown> }): boolean => String(input.Key?.['pk']).startsWith('budget#');
