export interface BackoffOptions {
  /** Delay ceiling before the first retry. @default 500 */
  readonly initialMs?: number;
  /** Delay ceiling however many attempts have failed. @default 30000 */
  readonly maxMs?: number;
}

/**
 * New connections a second that a fleet's reconnections are spread to: 80% of API Gateway's
 * quota of 500 new WebSocket connections a second per account and region ("Quotas for
 * configuring and running a WebSocket API in API Gateway"), leaving room for new users.
 */
export const RECONNECTS_PER_SECOND = 400;

/** The ceiling below which a fleet's spread is not worth a longer wait: a lone client is back within this of the server. */
export const MIN_RECONNECT_CEILING_MS = 2_000;

/**
 * Backoff for one of `connections` clients that may be cut off together (API Gateway drops
 * every connection of a stage at once, and a deploy of the client or an outage does too).
 * With full jitter, n clients waiting below a ceiling of c seconds come back at n / c a
 * second, so the ceiling grows to connections / RECONNECTS_PER_SECOND: a million clients
 * are spread over 2,500 s at 400/s, under the connect quota. Until it has grown that far,
 * the attempts above the quota are refused by API Gateway with 429 before any function runs,
 * and each refusal doubles that client's ceiling. A deployment of a few clients keeps the
 * floor, MIN_RECONNECT_CEILING_MS, and is back within 2 s of the server.
 */
export function fleetBackoff(connections: number): Required<BackoffOptions> {
  return { initialMs: 500, maxMs: Math.max(MIN_RECONNECT_CEILING_MS, Math.ceil((connections / RECONNECTS_PER_SECOND) * 1000)) };
}

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential
 * Backoff And Jitter"): a random delay below a ceiling that doubles per
 * failed attempt, so clients cut off together do not come back together.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? 500;
  const max = options.maxMs ?? 30_000;
  const ceiling = Math.min(max, initial * 2 ** Math.max(0, attempt));
  return Math.round(random() * ceiling);
}
