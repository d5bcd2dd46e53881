/** Error codes of docs/protocol.md; a client switches on these, never on messages. */
export const ErrorCode = {
  BadRequest: 'bad_request',
  UnknownAction: 'unknown_action',
  Forbidden: 'forbidden',
  NotFound: 'not_found',
  RateLimited: 'rate_limited',
  Internal: 'internal',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * An error the client is allowed to see. Anything else that escapes domain code
 * reaches the client as `internal`, with no message or stack from the server.
 */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** Over a per-user budget: `rate_limited`, with the wait in milliseconds until the frame would pass. */
export class RateLimited extends ProtocolError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(ErrorCode.RateLimited, message);
  }
}

export const badRequest = (message: string) => new ProtocolError(ErrorCode.BadRequest, message);

/**
 * The publish API's `id` was used for this author in the last 10 minutes, for a different status:
 * `bad_request`, answered with HTTP 409 so that a backend reusing ids by mistake learns of it
 * instead of silently getting the first status back (the WebSocket `post` has no such check).
 */
export class IdempotencyConflict extends ProtocolError {
  constructor(message: string) {
    super(ErrorCode.BadRequest, message);
  }
}
