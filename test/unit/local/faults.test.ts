import { Faults, FaultSpecError, parseFaults, parseSeed } from '../../../local/faults';

const EVERY_KEY =
  'postToConnection:500=0.1,postToConnection:429=0.05,postToConnection:latency=5-300ms,postToConnection:lost=0.01,fanout:crash=0.02,stream:duplicate=0.05,stream:reorder=0.05';

describe('parseFaults', () => {
  it('reads every key', () => {
    expect(parseFaults(EVERY_KEY)).toEqual({
      'postToConnection:500': 0.1,
      'postToConnection:429': 0.05,
      'postToConnection:latency': { minMs: 5, maxMs: 300 },
      'postToConnection:lost': 0.01,
      'fanout:crash': 0.02,
      'stream:duplicate': 0.05,
      'stream:reorder': 0.05,
    });
  });

  it('is no faults when empty or blank, and ignores spaces and empty parts', () => {
    expect(parseFaults('')).toEqual({});
    expect(parseFaults('  ,  ')).toEqual({});
    expect(parseFaults(' fanout:crash = 1 , , stream:reorder=0 ')).toEqual({ 'fanout:crash': 1, 'stream:reorder': 0 });
  });

  it('reads a fixed latency and the bounds 0 and 1', () => {
    expect(parseFaults('postToConnection:latency=50ms,postToConnection:500=0,postToConnection:429=1.0,stream:duplicate=.5')).toEqual({
      'postToConnection:latency': { minMs: 50, maxMs: 50 },
      'postToConnection:500': 0,
      'postToConnection:429': 1,
      'stream:duplicate': 0.5,
    });
  });

  it.each([
    ['postToConection:500=0.1', /unknown fault "postToConection:500"/],
    ['fanout:crash', /"fanout:crash": the value must be a probability/],
    ['fanout:crash=', /"fanout:crash=": the value must be a probability/],
    ['fanout:crash=1.5', /"fanout:crash=1.5": the value must be a probability from 0 to 1/],
    ['fanout:crash=-0.1', /"fanout:crash=-0.1"/],
    ['fanout:crash=abc', /"fanout:crash=abc"/],
    ['fanout:crash=5%', /"fanout:crash=5%"/],
    ['fanout:crash=0x1', /"fanout:crash=0x1"/],
    ['stream:duplicate=0.1,stream:duplicate=0.2', /stream:duplicate is given twice/],
    ['postToConnection:latency=300-5ms', /"postToConnection:latency=300-5ms": the latency must be A-Bms with A ≤ B/],
    ['postToConnection:latency=5-300', /the latency must be/],
    ['postToConnection:latency=5-300s', /the latency must be/],
    ['postToConnection:latency=1.5ms', /the latency must be/],
    ['postToConnection:latency=5ms,postToConnection:latency=6ms', /postToConnection:latency is given twice/],
  ])('refuses %j, naming the bad part', (raw, message) => {
    expect(() => parseFaults(raw)).toThrow(FaultSpecError);
    expect(() => parseFaults(raw)).toThrow(message);
  });
});

describe('parseSeed', () => {
  it('reads a whole number, and nothing from unset or empty', () => {
    expect(parseSeed('42')).toBe(42);
    expect(parseSeed(undefined)).toBeUndefined();
    expect(parseSeed('')).toBeUndefined();
  });

  it.each(['-1', '1.5', 'abc', '4294967296'])('refuses %j', (raw) => {
    expect(() => parseSeed(raw)).toThrow(/UPDRAFT_FAULTS_SEED must be a whole number/);
  });
});

describe('Faults', () => {
  const DRAWS = 20_000;
  const body = (n: number) => Buffer.from(JSON.stringify({ type: 'status', n }));

  it('repeats its draws for the same seed', () => {
    const [a, b] = [new Faults({}, 7), new Faults({}, 7)];
    const draws = (faults: Faults) => Array.from({ length: 100 }, () => faults.random());
    expect(draws(a)).toEqual(draws(b));
    expect(draws(new Faults({}, 8))).not.toEqual(draws(new Faults({}, 7)));
  });

  it('refuses POSTs with 500 and 429 at about their rates, and counts them', async () => {
    const faults = new Faults(parseFaults('postToConnection:500=0.1,postToConnection:429=0.05'), 1);
    const statuses = new Map<number | undefined, number>();
    for (let i = 0; i < DRAWS; i++) {
      const refusal = await faults.post('conn', body(i));
      statuses.set(refusal?.status, (statuses.get(refusal?.status) ?? 0) + 1);
    }
    // 429 is drawn first, then 500 of what is left: 0.05 and 0.95 × 0.1.
    expect((statuses.get(429) ?? 0) / DRAWS).toBeCloseTo(0.05, 2);
    expect((statuses.get(500) ?? 0) / DRAWS).toBeCloseTo(0.095, 2);
    expect(faults.report().injected).toEqual({ 'postToConnection:500': statuses.get(500), 'postToConnection:429': statuses.get(429) });
  });

  it('answers as API Gateway does: InternalServerErrorException and LimitExceededException', async () => {
    const faults = new Faults(parseFaults('postToConnection:429=1'), 1);
    expect(await faults.post('conn', body(1))).toEqual({ status: 429, errorType: 'LimitExceededException', message: 'Too Many Requests' });
    const failing = new Faults(parseFaults('postToConnection:500=1'), 1);
    expect(await failing.post('conn', body(1))).toEqual({ status: 500, errorType: 'InternalServerErrorException', message: 'Internal server error' });
  });

  it('loses a (connection, body) pair on every attempt, at about its rate', async () => {
    const faults = new Faults(parseFaults('postToConnection:lost=0.2'), 3);
    const lost: number[] = [];
    for (let i = 0; i < 2_000; i++) if (await faults.post('conn', body(i))) lost.push(i);

    expect(lost.length / 2_000).toBeCloseTo(0.2, 1);
    // Sticky: every retry of a lost pair fails again, every retry of a delivered one succeeds.
    for (let i = 0; i < 200; i++) expect((await faults.post('conn', body(i)))?.status).toBe(lost.includes(i) ? 500 : undefined);
    // Per pair: the same body to other connections is decided afresh.
    const elsewhere = await Promise.all(lost.map((i) => faults.post('other', body(i))));
    expect(elsewhere.filter((refusal) => refusal === undefined).length).toBeGreaterThan(lost.length / 2);
    // The same seed loses the same pairs; another seed others.
    expect(new Faults(parseFaults('postToConnection:lost=0.2'), 3).lost('conn', body(lost[0] ?? -1))).toBe(true);
    expect(lost.filter((i) => new Faults(parseFaults('postToConnection:lost=0.2'), 4).lost('conn', body(i))).length).toBeLessThan(lost.length / 2);
  });

  it('counts every refused attempt at a lost pair', async () => {
    const faults = new Faults(parseFaults('postToConnection:lost=1'), 1);
    for (let attempt = 0; attempt < 3; attempt++) expect(await faults.post('conn', body(1))).toMatchObject({ status: 500 });
    expect(faults.report().injected).toEqual({ 'postToConnection:lost': 3 });
  });

  describe('latency', () => {
    afterEach(() => {
      jest.useRealTimers();
    });

    it('holds each POST for a draw within the range', async () => {
      jest.useFakeTimers();
      const faults = new Faults(parseFaults('postToConnection:latency=100-300ms'), 5);
      const answered: number[] = [];
      for (let i = 0; i < 50; i++) void faults.post('conn', body(i)).then(() => answered.push(i));

      await jest.advanceTimersByTimeAsync(99);
      expect(answered).toEqual([]);
      await jest.advanceTimersByTimeAsync(101);
      expect(answered.length).toBeGreaterThan(10);
      expect(answered.length).toBeLessThan(40);
      await jest.advanceTimersByTimeAsync(100);
      expect(answered).toHaveLength(50);
      expect(faults.report().injected).toEqual({ 'postToConnection:latency': 50 });
    });
  });

  it('crashes at about its rate, half before the handler and half after', () => {
    const faults = new Faults(parseFaults('fanout:crash=0.1'), 9);
    const points = Array.from({ length: DRAWS }, () => faults.crash());
    const before = points.filter((point) => point === 'before').length;
    const after = points.filter((point) => point === 'after').length;

    expect((before + after) / DRAWS).toBeCloseTo(0.1, 2);
    expect(before / (before + after)).toBeCloseTo(0.5, 1);
    expect(faults.report().injected).toEqual({ 'fanout:crash': before + after });
  });

  it('hands each record over again at about the duplicate rate, right after itself', () => {
    const faults = new Faults(parseFaults('stream:duplicate=0.05'), 11);
    const records = Array.from({ length: DRAWS }, (_, i) => ({ i }));
    const handed = faults.duplicate(records);

    expect((handed.length - DRAWS) / DRAWS).toBeCloseTo(0.05, 2);
    expect(handed.filter((record, index) => handed[index - 1] === record)).toHaveLength(handed.length - DRAWS);
    expect(new Set(handed)).toEqual(new Set(records));
    expect(faults.report().injected).toEqual({ 'stream:duplicate': handed.length - DRAWS });
  });

  describe('reorder', () => {
    const keyOf = (record: { channel: string }) => record.channel;

    it('swaps two consecutive records of one channel', () => {
      const faults = new Faults(parseFaults('stream:reorder=1'), 13);
      const batch = [
        { channel: 'user:a', n: 1 },
        { channel: 'user:b', n: 1 },
        { channel: 'user:a', n: 2 },
        { channel: 'user:c', n: 1 },
      ];

      expect(faults.reorder(batch, keyOf)).toEqual([batch[2], batch[1], batch[0], batch[3]]);
      expect(batch.map((record) => record.n)).toEqual([1, 1, 2, 1]);
    });

    it('swaps two adjacent records when no channel has two', () => {
      const faults = new Faults(parseFaults('stream:reorder=1'), 13);
      const batch = ['a', 'b', 'c', 'd'].map((channel) => ({ channel }));
      const reordered = faults.reorder(batch, keyOf);
      const moved = reordered.flatMap((record, index) => (record === batch[index] ? [] : [index]));

      expect(moved).toHaveLength(2);
      expect((moved[1] ?? 0) - (moved[0] ?? 0)).toBe(1);
      expect(new Set(reordered)).toEqual(new Set(batch));
    });

    it('leaves a batch of one alone, draws nothing for it, and reorders at about its rate', () => {
      const faults = new Faults(parseFaults('stream:reorder=0.05'), 17);
      expect(faults.reorder([{ channel: 'a' }], keyOf)).toHaveLength(1);
      expect(faults.report().injected).toEqual({ 'stream:reorder': 0 });

      const batch = [{ channel: 'a' }, { channel: 'a' }];
      const changed = Array.from({ length: DRAWS }, () => faults.reorder(batch, keyOf)).filter((reordered) => reordered !== batch).length;
      expect(changed / DRAWS).toBeCloseTo(0.05, 2);
      expect(faults.report().injected).toEqual({ 'stream:reorder': changed });
    });
  });

  it('reports the spec, the seed and a zero for each fault it was given, and describes them in one line', () => {
    const faults = new Faults(parseFaults(EVERY_KEY), 21);

    expect(faults.report()).toEqual({
      faults: parseFaults(EVERY_KEY),
      seed: 21,
      injected: {
        'postToConnection:500': 0,
        'postToConnection:429': 0,
        'postToConnection:lost': 0,
        'fanout:crash': 0,
        'stream:duplicate': 0,
        'stream:reorder': 0,
        'postToConnection:latency': 0,
      },
    });
    expect(faults.describe()).toBe(
      'postToConnection:500=0.1, postToConnection:429=0.05, postToConnection:lost=0.01, fanout:crash=0.02, stream:duplicate=0.05, stream:reorder=0.05, postToConnection:latency=5-300ms',
    );
  });
});
