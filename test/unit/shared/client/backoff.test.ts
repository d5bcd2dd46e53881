import { mulberry32 } from '../../../../local/faults';
import { backoffDelay, fleetBackoff, MIN_RECONNECT_CEILING_MS, RECONNECTS_PER_SECOND } from '../../../../shared/client/backoff';


/**
 * `clients` cut off at once reconnect with `options`; API Gateway admits `quota` new connections
 * a second and refuses the rest (each refusal is one more failed attempt for that client).
 * Returns when the last one got in, and how many handshakes were refused on the way.
 */
function reconnectStorm(clients: number, options: { initialMs: number; maxMs: number }, quota = 500) {
  // Seeded, so the fleet below is the same fleet every run.
  const random = mulberry32(7);
  // Each client's next attempt, as [time ms, failed attempts so far]; processed in time order, one second at a time.
  let waiting = Array.from({ length: clients }, () => ({ at: backoffDelay(0, options, random), attempt: 1 }));
  let refused = 0;
  let lastIn = 0;
  for (let second = 0; waiting.length > 0; second++) {
    const due = waiting.filter((c) => c.at < (second + 1) * 1000).sort((a, b) => a.at - b.at);
    const later = waiting.filter((c) => c.at >= (second + 1) * 1000);
    const admitted = due.slice(0, quota);
    if (admitted.length > 0) lastIn = admitted.at(-1)?.at ?? lastIn;
    const turnedAway = due.slice(quota);
    refused += turnedAway.length;
    waiting = [...later, ...turnedAway.map((c) => ({ at: c.at + backoffDelay(c.attempt, options, random), attempt: c.attempt + 1 }))];
  }
  return { lastInSeconds: lastIn / 1000, refused };
}

describe('backoffDelay', () => {
  it('draws below a ceiling that doubles per failed attempt, up to maxMs', () => {
    const ceilings = [0, 1, 2, 3, 10].map((attempt) => backoffDelay(attempt, { initialMs: 500, maxMs: 3_000 }, () => 1));
    expect(ceilings).toEqual([500, 1_000, 2_000, 3_000, 3_000]);
    expect(backoffDelay(4, { initialMs: 500, maxMs: 3_000 }, () => 0)).toBe(0);
  });
});

describe('fleetBackoff', () => {
  it('grows the ceiling to the time the expected connections take at 400 a second, with a 2 s floor', () => {
    expect(RECONNECTS_PER_SECOND).toBe(400);
    expect(fleetBackoff(0)).toEqual({ initialMs: 500, maxMs: MIN_RECONNECT_CEILING_MS });
    expect(fleetBackoff(100).maxMs).toBe(2_000);
    expect(fleetBackoff(10_000).maxMs).toBe(25_000);
    expect(fleetBackoff(1_000_000).maxMs).toBe(2_500_000);
  });

  it('brings a lone client back within 2 s of the server, however long it was down', () => {
    const options = fleetBackoff(1);
    const delays = Array.from({ length: 30 }, (_, attempt) => backoffDelay(attempt, options, () => 1));
    expect(Math.max(...delays)).toBe(2_000);
  });

  // Measured with this seed: sized, 99,299 handshakes refused (5 a client) and the last client in at 75 s;
  // a fixed 2 s ceiling, 361,110 refused (18 a client), the last in at 41 s. The ratio grows with the fleet:
  // a fixed ceiling keeps every waiting client knocking every 2 s for as long as the quota needs.
  it('brings a fleet cut off together back under the connect quota with a few refused handshakes a client, not one every 2 s', () => {
    const clients = 20_000;
    const sized = reconnectStorm(clients, fleetBackoff(clients));
    const short = reconnectStorm(clients, { initialMs: 500, maxMs: 2_000 });

    // Everyone gets in either way: the quota lets in 500 a second, so no sooner than 40 s.
    expect(sized.lastInSeconds).toBeGreaterThanOrEqual(clients / 500 - 1);
    expect(short.lastInSeconds).toBeGreaterThanOrEqual(clients / 500 - 1);
    // A fixed 2 s ceiling keeps the whole fleet knocking: about 10,000 refused handshakes a second.
    // Sized to the fleet, the ceilings spread out until the knocking fits the quota.
    expect(short.refused).toBeGreaterThan(3 * sized.refused);
    // About log2(maxMs / initialMs) doublings before a client's ceiling fits the fleet: 7 here.
    expect(sized.refused).toBeLessThan(7 * clients);
    // And the spread costs little time: the last one is in within the ceiling of its last attempts.
    expect(sized.lastInSeconds).toBeLessThan(fleetBackoff(clients).maxMs / 1000 + clients / 500);
  });
});
