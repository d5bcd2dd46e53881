// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { LocalStack } from '../support/local-stack';
import { until } from '../support/until';
import type { Frame, TestClient } from '../support/ws-client';

/**
 * The fan-out tree on the local stack, as the template deploys it: a channel too large
 * for the stream consumer to deliver itself goes through the FIFO delivery queue to the
 * delivery workers, and each subscriber still receives every status once, in order.
 * Channels of more than 8 subscribers take the tree here (FANOUT_DIRECT_MAX=8 for this
 * run), so 40 subscribers are enough; cdk.json's default is 2,000.
 */
const DIRECT_MAX = 8;
const SUBSCRIBERS = 40;
const POSTS = 5;
let stack: LocalStack;

beforeAll(async () => {
  stack = await LocalStack.start({ verbose: true, env: { UPDRAFT_FUNCTION_ENV: `FANOUT_DIRECT_MAX=${DIRECT_MAX}` } });
});

afterAll(async () => {
  expect(await stack.stop()).toBe(0);
});

const statusOf = (frame: Frame) => frame['status'] as { id: string; text: string };

/** The JSON lines a function logged (its logical id starts with `functionPrefix`) with this message. */
function logged(functionPrefix: string, message: string): Record<string, unknown>[] {
  const lines = stack.output.split('\n').filter((line) => new RegExp(`^\\[${functionPrefix}[0-9A-F]{8}\\] \\{`).test(line));
  return lines.map((line) => JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>).filter((entry) => entry['message'] === message);
}
const sum = (entries: readonly Record<string, unknown>[], field: string) => entries.reduce((total, entry) => total + Number(entry[field] ?? 0), 0);

describe('the fan-out tree', () => {
  it('delivers each post of a large channel through the delivery queue to every subscriber exactly once, in order', async () => {
    const author = await stack.connect('tree-author');
    const subscribers: TestClient[] = [];
    // A few handshakes at a time: each runs the authorizer and $connect.
    for (let i = 0; i < SUBSCRIBERS; i += 8) subscribers.push(...(await Promise.all(Array.from({ length: 8 }, (_, j) => stack.connect(`tree-${i + j}`)))));
    await Promise.all(subscribers.map((client) => client.request({ action: 'subscribe', channels: ['user:tree-author'] })));

    const posted: string[] = [];
    for (let i = 0; i < POSTS; i++) posted.push(statusOf(await author.request({ action: 'post', text: `tree ${i}` })).id);
    const last = posted.at(-1);
    await Promise.all(subscribers.map((client) => client.next((f) => f.type === 'status' && statusOf(f).id === last, 20_000)));
    // Every queued segment has been worked (the workers log each batch after its last post was
    // answered), so a duplicate would have been sent by now: each delivery is a post of its own.
    const queuedPosts = () => sum(logged('FanOut', 'fan-out batch'), 'queued');
    const segmentsDone = () => sum(logged('Deliver', 'delivery batch'), 'segments');
    await until(() => queuedPosts() === POSTS && segmentsDone() === sum(logged('FanOut', 'fan-out batch'), 'segments'), 'the workers to finish every queued segment');

    for (const client of subscribers) expect(client.statuses('user:tree-author').map((f) => statusOf(f).id)).toEqual(posted);
    // The tree path, not the direct one: the stream consumer queued every post and delivered none
    // of them itself; the delivery workers, invoked by the queue's event source, made every delivery.
    const fanOut = logged('FanOut', 'fan-out batch');
    const workers = logged('Deliver', 'delivery batch');
    expect(sum(fanOut, 'queued')).toBe(POSTS);
    expect(sum(fanOut, 'delivered')).toBe(0);
    expect(sum(workers, 'delivered')).toBe(SUBSCRIBERS * POSTS);
    expect(sum(workers, 'segments')).toBe(sum(fanOut, 'segments'));
    expect(stack.output).toMatch(/^\d\d:\d\d:\d\d {2}queue {7}Deliver[0-9A-F]{8} +\d+ messages? /m);
    expect(stack.output).toMatch(/queue mapping +DeliveryQueue[0-9A-F]{8} → Deliver[0-9A-F]{8}: batches of 10/);
    // Nothing was given up on: no stream batch and no message went to a dead-letter queue.
    expect(stack.output).not.toContain('!!!');
  });
});
