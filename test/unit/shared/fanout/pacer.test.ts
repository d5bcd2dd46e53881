import { Pacer } from '../../../../shared/fanout/pacer';

/** A pacer on a clock of the test's own: sleeping moves the clock on, nothing waits for real. */
function paced(options: { ratePerSecond: number; burstSeconds?: number }) {
  let now = 0;
  const pacer = new Pacer({
    ...options,
    now: () => now,
    sleep: (ms) => {
      now += ms;
      return Promise.resolve();
    },
  });
  return { pacer, clock: () => now, advance: (ms: number) => (now += ms) };
}

/** Takes `count` deliveries one after another, as a worker does; returns how long that took on the clock. */
async function deliver(pacer: Pacer, clock: () => number, count: number): Promise<number> {
  const started = clock();
  for (let i = 0; i < count; i++) await pacer.take();
  return clock() - started;
}

describe('Pacer', () => {
  it('lets a burst through at once, then holds the rate', async () => {
    const { pacer, clock } = paced({ ratePerSecond: 1000, burstSeconds: 0.05 });

    expect(await deliver(pacer, clock, 51)).toBe(0);
    // 1,000 more at 1,000 a second take one second, less the burst already counted.
    expect(await deliver(pacer, clock, 1000)).toBeCloseTo(1000, 0);
  });

  it('halves its rate on a 429, once for a burst of them', () => {
    const { pacer } = paced({ ratePerSecond: 800 });

    pacer.throttled();
    pacer.throttled();
    pacer.throttled();

    expect(pacer.currentRate).toBe(400);
  });

  it('slows its deliveries after throttling', async () => {
    const { pacer, clock, advance } = paced({ ratePerSecond: 1000, burstSeconds: 0 });
    await deliver(pacer, clock, 100);
    advance(200);

    pacer.throttled();
    const took = await deliver(pacer, clock, 100);

    // At 500 a second, 100 deliveries take 200 ms; recovery during them adds back a little speed.
    expect(took).toBeGreaterThan(180);
    expect(took).toBeLessThan(200);
  });

  it('wins back a tenth of its share per second without throttling, up to the share', () => {
    const { pacer, advance } = paced({ ratePerSecond: 1000 });
    pacer.throttled();
    advance(200);
    pacer.throttled();
    expect(pacer.currentRate).toBeCloseTo(260, 0);

    advance(3_000);
    pacer.throttled(); // past the hold: this one decreases from the recovered rate
    expect(pacer.currentRate).toBeCloseTo(280, 0);

    advance(60_000);
    void pacer.take();
    expect(pacer.currentRate).toBe(1000);
  });

  it('refuses a rate that is not a positive number', () => {
    expect(() => new Pacer({ ratePerSecond: 0 })).toThrow(RangeError);
    expect(() => new Pacer({ ratePerSecond: Number.NaN })).toThrow(RangeError);
  });

  it('keeps a run of 429s from pushing it below its floor', () => {
    const { pacer, advance } = paced({ ratePerSecond: 1000 });
    for (let i = 0; i < 50; i++) {
      pacer.throttled();
      advance(101);
    }
    // The floor is 5% of the share; between throttles it wins back 10% a second (1% per 101 ms).
    expect(pacer.currentRate).toBeGreaterThanOrEqual(50);
    expect(pacer.currentRate).toBeLessThan(70);
  });
});
