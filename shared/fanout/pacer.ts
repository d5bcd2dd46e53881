/**
 * Paces one delivery worker within its share of the stage's delivery budget, and
 * backs off when API Gateway throttles anyway (other callers share the account's
 * limit): additive increase, multiplicative decrease, as TCP does. Every worker
 * starts at its share (the budget divided by the most workers that may run at
 * once), so the fleet can never exceed the budget; a 429 halves a worker's rate,
 * and each second without one wins back a tenth of its share.
 */
export interface PacerOptions {
  /** Deliveries per second this worker may make at most: its share of the stage's budget. */
  readonly ratePerSecond: number;
  /** The least rate a run of 429s can push it to. @default 5% of the share */
  readonly floorPerSecond?: number;
  /**
   * Deliveries it may make at once after being idle, in seconds of its rate. A warm worker
   * idles about 100 ms between invocations (the event source's delete and receive, the
   * first Query, the last posts' latency); a burst longer than that wins the time back, so
   * a worker keeps its share over a run of invocations. Fleet-wide, at most budget ×
   * burstSeconds posts go above the budget at once: within API Gateway's burst (5,000 by default).
   * @default 0.25
   */
  readonly burstSeconds?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A 429 within this long of the last decrease belongs to the same congestion: decrease once. */
const DECREASE_HOLD_MS = 100;

export class Pacer {
  private rate: number;
  private readonly ceiling: number;
  private readonly floor: number;
  private readonly burstSeconds: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** GCRA's theoretical arrival time: when the next delivery would be due at an even rate. */
  private arrivalAt: number;
  private lastChangeAt: number;
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;

  constructor(options: PacerOptions) {
    if (!(options.ratePerSecond > 0) || !Number.isFinite(options.ratePerSecond)) throw new RangeError(`a pacer's rate must be a positive number, not ${options.ratePerSecond}`);
    this.ceiling = options.ratePerSecond;
    this.rate = options.ratePerSecond;
    this.floor = options.floorPerSecond ?? options.ratePerSecond / 20;
    this.burstSeconds = options.burstSeconds ?? 0.25;
    this.now = options.now ?? performance.now.bind(performance);
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.arrivalAt = this.now();
    this.lastChangeAt = this.arrivalAt;
  }

  /** The rate it paces at now, in deliveries per second. */
  get currentRate(): number {
    return this.rate;
  }

  /** Resolves when one more delivery fits the current rate. */
  async take(): Promise<void> {
    const now = this.now();
    this.recover(now);
    const arrival = Math.max(this.arrivalAt, now);
    this.arrivalAt = arrival + 1000 / this.rate;
    const wait = arrival - now - this.burstSeconds * 1000;
    if (wait > 0) await this.sleep(wait);
  }

  /** API Gateway answered 429: halve the rate, once per burst of throttling. */
  throttled(): void {
    const now = this.now();
    if (now - this.lastDecreaseAt < DECREASE_HOLD_MS) return;
    this.recover(now);
    this.rate = Math.max(this.floor, this.rate / 2);
    this.lastDecreaseAt = now;
  }

  /** Additive increase: a tenth of the share per second since the last change, up to the share. */
  private recover(now: number): void {
    const elapsed = (now - this.lastChangeAt) / 1000;
    this.lastChangeAt = now;
    if (this.rate < this.ceiling) this.rate = Math.min(this.ceiling, this.rate + (this.ceiling / 10) * elapsed);
  }
}
