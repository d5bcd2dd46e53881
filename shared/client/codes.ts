import type { ErrorCode } from '../protocol/codes';

/**
 * Error codes the client itself gives, beside the server's (`ErrorCode` of
 * the protocol), as centrifuge-js names its own in codes.ts. An `UpdraftError`
 * carries one or the other; a program switches on these, never on messages.
 */
export const ClientErrorCode = {
  /** No reply within `requestTimeoutMs`; the request may or may not have been done. */
  Timeout: 'timeout',
  /** The connection the request was on dropped (or there was none, for a request that must not wait); it was not answered there. */
  Disconnected: 'disconnected',
  /** `close()` was called, or the client was never connected: nothing more is sent. */
  Closed: 'closed',
  /** The server answered with a reply of another type than the request expects. */
  UnexpectedReply: 'unexpected_reply',
  /** The server sent a frame this client cannot read (not JSON, or a field missing or of the wrong type). */
  BadFrame: 'bad_frame',
} as const;

export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** Every code an `UpdraftError` may carry: the server's, then the client's own. */
export type UpdraftErrorCode = ErrorCode | ClientErrorCode;

/**
 * Where the connection stands. `state` events carry one of these.
 * - `idle`: created, `connect()` not called yet;
 * - `connecting`: the first handshake;
 * - `catching-up`: connected, resubscribing and fetching what was missed;
 * - `live`: everything since the last status seen has arrived;
 * - `reconnecting`: the connection dropped (or could not be made), and a retry is scheduled;
 * - `closed`: `close()` was called, or the client failed for good.
 */
export const ConnectionState = {
  Idle: 'idle',
  Connecting: 'connecting',
  CatchingUp: 'catching-up',
  Live: 'live',
  Reconnecting: 'reconnecting',
  Closed: 'closed',
} as const;

export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];
