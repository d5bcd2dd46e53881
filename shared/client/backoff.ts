export interface BackoffOptions {
  /** Delay ceiling before the first retry. @default 500 */
  readonly initialMs?: number;
  /** Delay ceiling however many attempts have failed. @default 30000 */
  readonly maxMs?: number;
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
