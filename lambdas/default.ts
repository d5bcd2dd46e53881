import { errorFrame, respond, type RouteResult, type WebSocketEvent } from '../shared/edge';
import { ErrorCode, ProtocolError, parseFrame } from '../shared/protocol';

/** `$default` gets frames that are not JSON or name no route: answer which of the two it was. */
export const handler = (event: WebSocketEvent): Promise<RouteResult> => Promise.resolve(answer(event));

function answer(event: WebSocketEvent): RouteResult {
  let requestId: string | undefined;
  try {
    const frame = parseFrame(event.body);
    requestId = frame.id;
    const action = typeof frame.action === 'string' ? JSON.stringify(frame.action.slice(0, 64)) : 'missing';
    throw new ProtocolError(ErrorCode.UnknownAction, `unknown action: ${action}`);
  } catch (error) {
    return respond(errorFrame(error, requestId));
  }
}
