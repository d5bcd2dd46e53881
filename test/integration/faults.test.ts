import { LocalStack } from '../support/local-stack';
import type { Frame, TestClient } from '../support/ws-client';
import { until } from '../support/until';

/**
 * UPDRAFT_FAULTS on the local stack (README.md, "Injecting faults"): each fault is seen where a
 * user meets it, through raw WebSocket clients (the client library would drop a duplicate).
 */
const statusId = (frame: Frame) => (frame['status'] as { id: string }).id;

async function injected(stack: LocalStack): Promise<Record<string, number>> {
  const response = await fetch(`${stack.httpUrl}/dev/faults`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { injected: Record<string, number> }).injected;
}

/** A reply on the socket: every frame the stack wrote to it before has arrived. */
const roundTrip = (client: TestClient) => client.request({ action: 'ping' });

describe('postToConnection:lost=1', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await LocalStack.start({ env: { UPDRAFT_FAULTS: 'postToConnection:lost=1', UPDRAFT_FAULTS_SEED: '1' } });
  });

  afterAll(async () => {
    expect(await stack.stop()).toBe(0);
  });

  it('says so at start, and answers GET /dev/faults to tools but not to browsers', async () => {
    expect(stack.output).toMatch(/faults: +ON: postToConnection:lost=1 \(seed 1\)/);
    const report = await fetch(`${stack.httpUrl}/dev/faults`);
    expect(await report.json()).toEqual({ faults: { 'postToConnection:lost': 1 }, seed: 1, injected: { 'postToConnection:lost': 0 } });
    const fromPage = await fetch(`${stack.httpUrl}/dev/faults`, { headers: { origin: 'https://evil.example' } });
    expect(fromPage.status).toBe(403);
  });

  it('delivers nothing to a subscriber while the author still gets posted, and counts each refused attempt', async () => {
    const [alice, bob] = await Promise.all([stack.connect('alice'), stack.connect('bob')]);
    await bob.request({ action: 'subscribe', channels: ['user:alice'] });

    const posted = await alice.request({ action: 'post', text: 'never seen live' });

    expect(posted).toMatchObject({ type: 'posted', status: { text: 'never seen live' } });
    // The marker: fan-out gave the delivery up (its warning), after every attempt was refused.
    await until(() => stack.output.includes('delivery failed after retries'), 'the fan-out to give up on the delivery');
    await roundTrip(bob);
    expect(bob.frames.filter((frame) => frame.type === 'status')).toEqual([]);
    expect((await injected(stack))['postToConnection:lost']).toBeGreaterThanOrEqual(1);
  });
});

describe('stream:duplicate=1', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await LocalStack.start({ env: { UPDRAFT_FAULTS: 'stream:duplicate=1' } });
  });

  afterAll(async () => {
    expect(await stack.stop()).toBe(0);
  });

  it('hands each record to fan-out twice, so a raw subscriber gets the same status frame twice', async () => {
    const [carol, dave] = await Promise.all([stack.connect('carol'), stack.connect('dave')]);
    await dave.request({ action: 'subscribe', channels: ['user:carol'] });

    const posted = await carol.request({ action: 'post', text: 'twice' });
    const id = statusId(posted);
    await until(() => dave.frames.filter((frame) => frame.type === 'status' && statusId(frame) === id).length >= 2, 'the status twice');

    const copies = dave.frames.filter((frame) => frame.type === 'status' && statusId(frame) === id);
    expect(copies).toEqual([copies[0], copies[0]]);
    // Both at the same position: a client that keeps positions drops the second.
    expect(copies[0]).toEqual({ type: 'status', channel: 'user:carol', status: posted['status'], pos: 1 });
    expect((await injected(stack))['stream:duplicate']).toBeGreaterThanOrEqual(1);
  });
});

describe('a bad UPDRAFT_FAULTS', () => {
  it.each([
    ['fanout:crash=2', /"fanout:crash=2": the value must be a probability from 0 to 1/],
    ['stream:shuffle=0.1', /unknown fault "stream:shuffle"/],
    ['postToConnection:latency=300-5ms', /"postToConnection:latency=300-5ms": the latency must be A-Bms with A ≤ B/],
  ])('%j stops npm start with exit code 2 and a message naming the bad part', async (spec, message) => {
    const started = LocalStack.start({ env: { UPDRAFT_FAULTS: spec } });

    await expect(started).rejects.toThrow(/exited with 2 before it was ready/);
    await expect(started).rejects.toThrow(message);
  });

  it('stops npm start for a seed that is not a whole number', async () => {
    await expect(LocalStack.start({ env: { UPDRAFT_FAULTS: 'fanout:crash=0.1', UPDRAFT_FAULTS_SEED: 'abc' } })).rejects.toThrow(/UPDRAFT_FAULTS_SEED must be a whole number/);
  });
});
