import type { SQSEvent } from 'aws-lambda';
import { at } from '../../../local/clock';
import type { LocalFunction } from '../../../local/lambda';
import { QueueMapping } from '../../../local/queue-mapping';
import { LocalQueue } from '../../../local/queues';
import { queueModel } from '../../support/local-sqs';

/**
 * Deadlines kept by a timer and checked against Date.now(). On a busy machine a Node timer can
 * fire while Date.now() is still short of the delay it was armed with: libuv counts the delay
 * from the loop's cached time, which lags Date.now() after a long loop iteration. These tests
 * make that happen on purpose, with fake timers: Date.now() reads 5 ms ahead of the timers while
 * a deadline is set (`ahead()`), then falls back (`behind()`), so that a timer of the deadline's
 * length ends 5 ms before Date.now() reaches the deadline. Fake timers fire at the same relative
 * time whatever the system time is set to.
 */
const SKEW_MS = 5;
const ahead = () => jest.setSystemTime(Date.now() + SKEW_MS);
const behind = () => jest.setSystemTime(Date.now() - SKEW_MS);

beforeEach(() => {
  // Microtasks stay real: the queue wakes its listeners in one.
  jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick'] });
});
afterEach(() => jest.useRealTimers());

/** Lets fake time pass, `step` ms at a time, running microtasks between steps. */
async function pass(ms: number, step = 1): Promise<void> {
  for (let elapsed = 0; elapsed < ms; elapsed += step) await jest.advanceTimersByTimeAsync(step);
}

describe('at()', () => {
  it('fires once the clock reaches the deadline, not when a timer of the same length ends', async () => {
    ahead();
    const deadline = Date.now() + 30;
    const firedAt: number[] = [];
    at(deadline, () => firedAt.push(Date.now()));
    behind();

    await pass(100);

    expect(firedAt).toHaveLength(1);
    expect(firedAt[0]).toBeGreaterThanOrEqual(deadline);
  });

  it('does not fire once cancelled, also while it is armed again', async () => {
    ahead();
    const fired: number[] = [];
    const alarm = at(Date.now() + 30, () => fired.push(Date.now()));
    behind();
    await pass(31);
    alarm.cancel();

    await pass(100);

    expect(fired).toEqual([]);
  });
});

describe('LocalQueue wakes its listeners when a message can be received', () => {
  const region = 'us-east-1';
  const baseUrl = 'http://127.0.0.1:1';

  it.each([
    ['the visibility timeout of a message received', true],
    ['the delay of a message sent', false],
  ])('at the end of %s, by Date.now()', async (_, fifo) => {
    const queue = new LocalQueue(queueModel('Queue', { fifo, visibilityTimeoutMs: 300 }), { region, baseUrl });
    ahead();
    if (fifo) {
      queue.send({ body: 'm', groupId: 'g', deduplicationId: 'm', senderId: 'test' });
      expect(queue.receive(10)).toHaveLength(1);
    } else {
      queue.send({ body: 'm', delaySeconds: 1, senderId: 'test' });
    }
    behind();
    // The send's own wake, which finds nothing yet, comes first.
    await Promise.resolve();
    // What a woken listener (an event source mapping, a long poll) finds when it looks.
    const found: number[] = [];
    queue.onReceivable(() => found.push(queue.countReceivable(10)));

    await pass(2_000, 50);

    expect(found).toEqual([1]);
    queue.close();
  });
});

describe('QueueMapping with a batching window', () => {
  it('invokes the function when the window ends by Date.now(), with the messages that waited', async () => {
    const queue = new LocalQueue(queueModel('Queue'), { region: 'us-east-1', baseUrl: 'http://127.0.0.1:1' });
    const batches: string[][] = [];
    const fn = {
      model: { logicalId: 'Deliver' },
      invoke: (event: SQSEvent) => {
        batches.push(event.Records.map((record) => record.body));
        return Promise.resolve({ batchItemFailures: [] });
      },
    } as unknown as LocalFunction;
    const mapping = new QueueMapping({
      model: { logicalId: 'Mapping', queueId: 'Queue', functionId: 'Deliver', batchSize: 10, batchingWindowMs: 100, reportBatchItemFailures: true, filterPatterns: [], enabled: true },
      queue,
      fn,
      region: 'us-east-1',
      concurrency: 1,
      log: () => undefined,
    });
    mapping.start();
    ahead();
    queue.send({ body: 'first', groupId: 'g', deduplicationId: 'first', senderId: 'test' });
    // The queue wakes the mapping in a microtask: the window opens then, while the clock reads ahead.
    await Promise.resolve();
    behind();

    await pass(2_000, 50);

    expect(batches).toEqual([['first']]);
    await mapping.stop();
    queue.close();
  });
});
