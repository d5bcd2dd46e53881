/** Error codes of docs/protocol.md; a client switches on these, never on messages. */
export const ErrorCode = {
  BadRequest: 'bad_request',
  UnknownAction: 'unknown_action',
  Forbidden: 'forbidden',
  NotFound: 'not_found',
  RateLimited: 'rate_limited',
  Conflict: 'conflict',
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
 * A post's request `id` was used by the same author in the last 10 minutes for a different status:
 * `conflict` (HTTP 409 on the publish API). Nothing is stored, so that a client reusing ids by
 * mistake learns of it instead of silently getting the first status back.
 */
export class IdempotencyConflict extends ProtocolError {
  constructor(message: string) {
    super(ErrorCode.Conflict, message);
  }
}
