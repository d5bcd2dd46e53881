/** Exit codes a script can act on. */
export const Exit = {
  Ok: 0,
  /** The server answered with an error (bad_request, not_found, forbidden, rate_limited, …). */
  Refused: 1,
  Usage: 2,
  /** No connection: no stack answers at the address, or the handshake was refused (a bad or expired token). */
  NoConnection: 3,
} as const;

/** The command line is wrong; found before anything connects. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** No Updraft stack to talk to, or one that would not let us in. */
export class NoConnection extends Error {
  override readonly name = 'NoConnection';
}
