import { ApiGatewayManagementApiClient, DeleteConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { mockClient } from 'aws-sdk-client-mock';
import { messageHandler, tokenExpired, type WebSocketEvent } from '../../../shared/edge';
import { DefaultLimits } from '../../../shared/config';
import { config } from '../../../shared/config';
import { ErrorCode, MAX_ACTION_COST, ProtocolError } from '../../../shared/protocol';
import { messageEvent, replyOf } from '../../support/events';

const gateway = mockClient(ApiGatewayManagementApiClient);

const withExpiry = (event: WebSocketEvent, tokenExpiresAt: number | string | undefined): WebSocketEvent =>
  ({ ...event, requestContext: { ...event.requestContext, authorizer: { ...event.requestContext.authorizer, tokenExpiresAt } } });
const nowSeconds = () => Math.floor(Date.now() / 1000);

beforeEach(() => {
  gateway.reset();
  gateway.on(DeleteConnectionCommand).resolves({});
});

describe('token expiry at the edge', () => {
  const run = jest.fn(() => Promise.resolve({ type: 'pong' as const }));
  const handler = messageHandler(() => ({}), run);
  beforeEach(() => run.mockClear());

  it('runs frames while the token is valid, and does not touch the connection', async () => {
    const reply = replyOf(await handler(withExpiry(messageEvent({ action: 'ping', id: 'p1' }), nowSeconds() + 60)));

    expect(reply).toEqual({ type: 'pong', id: 'p1' });
    expect(run).toHaveBeenCalledTimes(1);
    expect(gateway.commandCalls(DeleteConnectionCommand)).toHaveLength(0);
  });

  it('closes the connection at the first frame after expiry, without running it', async () => {
    const event = withExpiry(messageEvent({ action: 'post', text: 'late' }, { connectionId: 'conn-expired=' }), nowSeconds() - 1);

    const reply = replyOf(await handler(event));

    expect(run).not.toHaveBeenCalled();
    expect(gateway.commandCalls(DeleteConnectionCommand).map((c) => c.args[0].input)).toEqual([{ ConnectionId: 'conn-expired=' }]);
    expect(reply).toEqual({ type: 'error', code: 'forbidden', message: 'token expired; reconnect with a new token' });
  });

  it('still refuses the frame when the close itself fails', async () => {
    gateway.on(DeleteConnectionCommand).rejects(Object.assign(new Error('gone'), { name: 'GoneException' }));

    const reply = replyOf(await handler(withExpiry(messageEvent({ action: 'ping' }), nowSeconds() - 1)));

    expect(run).not.toHaveBeenCalled();
    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
  });

  it.each([
    ['a number of seconds in the past', nowSeconds() - 5, true],
    ['the same as a string, as API Gateway may pass context values', String(nowSeconds() - 5), true],
    ['a time still to come', nowSeconds() + 5, false],
    ['no expiry (a connection authorized before the context carried it)', undefined, false],
    ['garbage', 'soon', false],
  ])('reads %s', (_, tokenExpiresAt, expired) => {
    expect(tokenExpired(withExpiry(messageEvent({}), tokenExpiresAt))).toBe(expired);
  });
});

describe('the action budget at the edge', () => {
  const takes: { subject: string; weight: number | undefined }[] = [];
  let allowed = true;
  const budget = {
    take: (subject: string, _nowMs: number, weight?: number) => {
      takes.push({ subject, weight });
      return Promise.resolve(allowed ? ({ allowed: true } as const) : ({ allowed: false, retryAfterMs: 1234 } as const));
    },
  };
  const run = jest.fn(() => Promise.resolve({ type: 'pong' as const }));
  const handler = messageHandler(() => ({}), run, { budget: () => Promise.resolve(budget) });
  const frame = (body: Record<string, unknown>) => messageEvent({ id: 'r1', ...body }, { userId: 'mallory' });

  beforeEach(() => {
    takes.length = 0;
    allowed = true;
    run.mockClear();
  });

  it.each([
    ['subscribe with since on 50 channels', { action: 'subscribe', channels: Array.from({ length: 50 }, (_, i) => `user:u${i}`), since: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`user:u${i}`, 'x'])) }, 101],
    ['subscribe to 2 channels', { action: 'subscribe', channels: ['user:a', 'user:b'] }, 3],
    ['unsubscribe from 3 channels', { action: 'unsubscribe', channels: ['user:a', 'user:b', 'user:c'] }, 4],
    ['history', { action: 'history', channel: 'user:a' }, 1],
    ['following', { action: 'following' }, 2],
    ['a feed page of 20', { action: 'feed' }, 41],
    ['a feed page of 100', { action: 'feed', limit: 100 }, 161],
    ['get of 100 ids', { action: 'get', ids: Array.from({ length: 100 }, (_, i) => `id${i}`) }, 150],
    ['follow', { action: 'follow', user: 'a' }, 10],
    ['unfollow', { action: 'unfollow', user: 'a' }, 10],
    ['presence of 100 users', { action: 'presence', users: Array.from({ length: 100 }, (_, i) => `u${i}`) }, 200],
  ])('charges %s its cost, to the user across connections', async (_, body, weight) => {
    await handler(frame(body));

    expect(takes).toEqual([{ subject: 'mallory', weight }]);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it.each([['ping'], ['post']])('does not charge %s (free, or a budget of its own)', async (action) => {
    await handler(frame({ action }));

    expect(takes).toEqual([]);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('answers rate_limited with the wait, without running the frame, when the budget is spent', async () => {
    allowed = false;

    const reply = replyOf(await handler(frame({ action: 'history', channel: 'user:a' })));

    expect(reply).toEqual({ type: 'error', id: 'r1', code: 'rate_limited', message: 'too many requests; try again in 1.3 s', retryAfterMs: 1234 });
    expect(run).not.toHaveBeenCalled();
  });

  it('charges work the up-front cost did not foresee through `charge`, at most what a full bucket holds, and answers rate_limited when refused', async () => {
    const more = (units: number) => messageHandler(() => ({}), async ({ charge }) => (await charge(units), { type: 'pong' as const }), { budget: () => Promise.resolve(budget) });
    const burst = config.actionRate().burst;

    await more(40)(frame({ action: 'history', channel: 'user:a' }));
    await more(10 * burst)(frame({ action: 'history', channel: 'user:a' }));
    expect(takes.map((take) => take.weight)).toEqual([1, 40, 1, burst - 1]);

    // A budget with room for the up-front unit and not for 5 more.
    const nearlySpent = { take: (_subject: string, _nowMs: number, weight?: number) => Promise.resolve(weight === 5 ? ({ allowed: false, retryAfterMs: 500 } as const) : ({ allowed: true } as const)) };
    const refusing = messageHandler(
      () => ({}),
      async ({ charge }) => {
        await charge(5);
        return run();
      },
      { budget: () => Promise.resolve(nearlySpent) },
    );
    expect(replyOf(await refusing(frame({ action: 'history', channel: 'user:a' })))).toMatchObject({ type: 'error', id: 'r1', code: 'rate_limited', retryAfterMs: 500 });
    expect(run).not.toHaveBeenCalled();
  });

  it('charges nothing for a frame that fails validation', async () => {
    const refusing = messageHandler(
      () => {
        throw new ProtocolError(ErrorCode.BadRequest, 'no');
      },
      run,
      { budget: () => Promise.resolve(budget) },
    );

    expect(replyOf(await refusing(frame({ action: 'history' })))).toMatchObject({ code: 'bad_request' });
    expect(takes).toEqual([]);
  });

  it('never asks for more than the smallest burst allowed holds', () => {
    expect(MAX_ACTION_COST).toBe(200);
    expect(DefaultLimits.actionRateBurst).toBeGreaterThanOrEqual(MAX_ACTION_COST);
  });
});
