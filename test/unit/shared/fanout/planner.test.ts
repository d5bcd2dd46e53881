import { connectionHash, indexOf, part, WHOLE } from '../../../../shared/fanout/hash-space';
import { planFanOut, segmentsPerGroup, type PlanOptions, type Segment } from '../../../../shared/fanout/planner';
import type { FirstPages } from '../../../../shared/store/subscriptions';

const SHARDS = 4;
const options: PlanOptions = { groups: 8, segmentSize: 100, maxSegments: 64, receiveBatch: 10 };
const ids = (n: number, prefix = 'c') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** The first pages SubscriptionStore.firstPages reads for these subscribers, `limit` per write shard. */
function firstPages(connectionIds: readonly string[], limit: number, queuedUntil?: number): FirstPages {
  const shards = Array.from({ length: SHARDS }, (_, shard) => {
    const rows = connectionIds
      .map((id) => ({ id, hash: connectionHash(id) }))
      .filter((row) => indexOf(row.hash, SHARDS) === shard)
      .sort((a, b) => a.hash - b.hash);
    const page = rows.slice(0, limit);
    // As DynamoDB pages: a page that fills its Limit is never known to be complete.
    return { shard, connectionIds: page.map((row) => row.id), hashes: page.map((row) => row.hash), complete: page.length < limit };
  });
  return { shards, ...(queuedUntil === undefined ? {} : { queuedUntil }) };
}

const inSegment = (segment: Segment, id: string) => {
  const hash = connectionHash(id);
  return hash >= segment.range.lo && hash < segment.range.hi;
};

describe('planFanOut', () => {
  it('delivers directly when every shard fits its first page, and queues once one does not', () => {
    // 400 subscribers are about 100 a shard: a limit of 150 holds them all, one of 90 does not.
    const subscribers = ids(400);
    const fits = planFanOut(firstPages(subscribers, 150), 0, options);
    const overflows = planFanOut(firstPages(subscribers, 90), 0, options);

    expect(fits).toEqual({ kind: 'direct', connectionIds: expect.arrayContaining(subscribers) as unknown });
    expect(fits.kind === 'direct' && fits.connectionIds).toHaveLength(400);
    expect(overflows.kind).toBe('queue');
  });

  it.each([
    ['just under', 99, 'direct'],
    // DynamoDB cannot say that a full page is the last.
    ['at', 100, 'queue'],
    ['just over', 101, 'queue'],
  ])('splits a channel whose biggest shard is %s the first page', (_, biggest, kind) => {
    const limit = 100;
    // Subscribers chosen so that the biggest shard holds exactly `biggest`.
    const shard0 = ids(4000).filter((id) => indexOf(connectionHash(id), SHARDS) === 0).slice(0, biggest);
    const shard1 = ids(4000, 'd').filter((id) => indexOf(connectionHash(id), SHARDS) === 1).slice(0, 50);

    expect(planFanOut(firstPages([...shard0, ...shard1], limit), 0, options).kind).toBe(kind);
  });

  it('cuts a large channel into segments that cover every subscriber exactly once, each inside its group, of at most about segmentSize each', () => {
    const subscribers = ids(20_000);
    const plan = planFanOut(firstPages(subscribers, 500), 0, { ...options, maxSegments: 1000 });
    if (plan.kind !== 'queue') throw new Error('expected the queue');
    const hashes = subscribers.map(connectionHash);

    // Estimated from 500 hashes a shard: within a few percent of the truth.
    expect(Math.abs(plan.estimatedSubscribers - 20_000) / 20_000).toBeLessThan(0.1);
    for (const segment of plan.segments) {
      expect(indexOf(segment.range.lo, options.groups)).toBe(segment.group);
      expect(indexOf(segment.range.hi - 1, options.groups)).toBe(segment.group);
    }
    const sizes = plan.segments.map((segment) => hashes.filter((hash) => hash >= segment.range.lo && hash < segment.range.hi).length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(20_000);
    for (const id of subscribers.slice(0, 500)) expect(plan.segments.filter((segment) => inSegment(segment, id))).toHaveLength(1);
    // About 2,500 a group want 25 segments of 100: 30, the next multiple of the batch, in every group.
    expect(plan.segments).toHaveLength(options.groups * 30);
    for (let group = 0; group < options.groups; group++) expect(plan.segments.filter((segment) => segment.group === group)).toHaveLength(30);
    // Segments of about 83, none far above the size asked for (it is estimated, and hashes fall unevenly).
    expect(Math.max(...sizes)).toBeLessThan(options.segmentSize * 1.3);
  });

  it.each([8, 9, 16, 40])('keeps to %i segments at most by making segments bigger, every group with subscribers keeping one', (maxSegments) => {
    const plan = planFanOut(firstPages(ids(20_000), 500), 0, { ...options, maxSegments });
    if (plan.kind !== 'queue') throw new Error('expected the queue');

    expect(plan.segments.length).toBeLessThanOrEqual(maxSegments);
    expect(new Set(plan.segments.map((segment) => segment.group)).size).toBe(options.groups);
  });

  it.each([
    // About 500 a group want 5 segments: each group's 5 are one turn.
    [4_000, 5, 5],
    // About 2,500 a group want 25: 30, queued 10 at a time.
    [20_000, 30, 10],
  ])('queues a status’s %i subscribers round-robin across groups, a batch’s worth of a group at a time, each group’s in order', (n, perGroup, turn) => {
    const plan = planFanOut(firstPages(ids(n), 500), 0, { ...options, maxSegments: 1000 });
    if (plan.kind !== 'queue') throw new Error('expected the queue');

    const turns = Array.from({ length: plan.segments.length / turn }, (_, i) => plan.segments.slice(i * turn, (i + 1) * turn));
    expect(turns.map((segments) => new Set(segments.map((segment) => segment.group)).size)).toEqual(turns.map(() => 1));
    const round = Array.from({ length: options.groups }, (_, group) => group);
    expect(turns.map((segments) => segments[0]?.group)).toEqual(Array.from({ length: perGroup / turn }, () => round).flat());
    for (let group = 0; group < options.groups; group++) {
      const los = plan.segments.filter((segment) => segment.group === group).map((segment) => segment.range.lo);
      expect(los).toEqual([...los].sort((a, b) => a - b));
    }
  });

  it.each([2_500, 4_000, 5_000, 6_500, 10_000, 20_000, 50_000])(
    'cuts no group’s segments of a %i-subscriber channel between two receive batches (or two SendMessageBatch calls)',
    (n) => {
      const plan = planFanOut(firstPages(ids(n), 500), 0, { ...options, maxSegments: 1000 });
      if (plan.kind !== 'queue') throw new Error('expected the queue');

      // The status queued alone, a receive takes it in the order queued, as SqsSegmentQueue sends it: in tens.
      const batches = Array.from({ length: Math.ceil(plan.segments.length / options.receiveBatch) }, (_, i) =>
        plan.segments.slice(i * options.receiveBatch, (i + 1) * options.receiveBatch),
      );
      const perGroup = plan.segments.length / options.groups;
      expect(Number.isInteger(perGroup)).toBe(true);
      for (let group = 0; group < options.groups; group++) {
        const holding = batches.filter((batch) => batch.some((segment) => segment.group === group));
        if (perGroup <= options.receiveBatch) {
          // All of a group's segments in one batch, which holds whole groups only.
          expect(holding).toHaveLength(1);
        } else {
          // Whole batches of the group's alone.
          expect(holding).toHaveLength(perGroup / options.receiveBatch);
          for (const batch of holding) expect(batch.every((segment) => segment.group === group)).toBe(true);
        }
      }
      expect(batches.every((batch) => batch.length === options.receiveBatch)).toBe(true);
    },
  );

  it('queues a channel that fits when the consumer may not deliver it directly', () => {
    expect(planFanOut(firstPages(ids(10), 100), 0, options, false).kind).toBe('queue');
  });

  it('queues a small channel while it is marked as queued, skipping groups with nobody in them', () => {
    const subscribers = ids(3);
    const plan = planFanOut(firstPages(subscribers, 100, 2_000), 1_000, options);
    if (plan.kind !== 'queue') throw new Error('expected the queue');

    const groups = new Set(subscribers.map((id) => indexOf(connectionHash(id), options.groups)));
    expect(new Set(plan.segments.map((segment) => segment.group))).toEqual(groups);
    expect(plan.segments.map((segment) => segment.range)).toEqual([...groups].sort((a, b) => a - b).map((group) => part(WHOLE, options.groups, group)));
    // An expired mark changes nothing.
    expect(planFanOut(firstPages(subscribers, 100, 1_000), 1_000, options).kind).toBe('direct');
  });

  it('refuses shapes that would break the nesting of shards, groups and segments', () => {
    const pages = firstPages(ids(10), 100);
    expect(() => planFanOut(pages, 0, { ...options, groups: 6 })).toThrow(/power of two/);
    expect(() => planFanOut(pages, 0, { ...options, groups: 2 })).toThrow(/at least the write shards/);
    expect(() => planFanOut(pages, 0, { ...options, maxSegments: 4 })).toThrow(/at least groups/);
  });
});

describe('segmentsPerGroup', () => {
  it.each([
    [0, 10, 200, 0],
    [1, 10, 200, 1],
    [2, 10, 200, 2],
    [3, 10, 200, 5],
    [4, 10, 200, 5],
    [5, 10, 200, 5],
    [6, 10, 200, 10],
    [10, 10, 200, 10],
    [11, 10, 200, 20],
    [32, 10, 200, 40],
    // Over the cap: the most that fits under it.
    [312, 10, 62, 60],
    [4, 10, 4, 2],
    [7, 10, 9, 5],
    [3, 10, 1, 1],
    // Other batch sizes: one takes any count; four, 1, 2, 4 and multiples of 4.
    [7, 1, 200, 7],
    [3, 4, 200, 4],
    [5, 4, 200, 8],
  ])('gives %i wanted, with batches of %i and at most %i, %i', (wanted, batch, most, expected) => {
    expect(segmentsPerGroup(wanted, batch, most)).toBe(expected);
  });

  it('refuses a batch that is not a whole number of at least 1', () => {
    expect(() => segmentsPerGroup(3, 0, 200)).toThrow(RangeError);
    expect(() => segmentsPerGroup(3, 2.5, 200)).toThrow(RangeError);
  });
});
