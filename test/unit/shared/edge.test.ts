import { ApiGatewayManagementApiClient, DeleteConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { mockClient } from 'aws-sdk-client-mock';
import { messageHandler, tokenExpired, type WebSocketEvent } from '../../../shared/edge';
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
