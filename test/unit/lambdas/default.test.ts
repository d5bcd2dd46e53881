import { handler as fallback } from '../../../lambdas/default';
import { handler as ping } from '../../../lambdas/ping';
import { messageEvent, replyOf } from '../../support/events';

describe('$default', () => {
  it('answers bad_request to a frame that is not JSON', async () => {
    expect(replyOf(await fallback(messageEvent('hello there', { routeKey: '$default' })))).toMatchObject({ type: 'error', code: 'bad_request' });
  });

  it('answers unknown_action, echoing the request id', async () => {
    const reply = replyOf(await fallback(messageEvent({ action: 'dance', id: 'd1' }, { routeKey: '$default' })));

    expect(reply).toEqual({ type: 'error', id: 'd1', code: 'unknown_action', message: 'unknown action: "dance"' });
  });

  it('answers unknown_action to a frame with no action', async () => {
    expect(replyOf(await fallback(messageEvent({ text: 'hi' }, { routeKey: '$default' })))).toMatchObject({ code: 'unknown_action' });
  });
});

describe('ping', () => {
  it('answers pong with the request id', async () => {
    expect(replyOf(await ping(messageEvent({ action: 'ping', id: 'p1' })))).toEqual({ type: 'pong', id: 'p1' });
  });
});
