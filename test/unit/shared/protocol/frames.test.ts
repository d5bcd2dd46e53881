import { parseServerFrame } from '../../../../shared/protocol/frames';

const status = { id: '01JD5Q8V0M3ZK9X4T2B7C6N1RA', author: 'alice', text: 'hello', createdAt: '2026-11-21T21:02:44.123Z' };

describe('parseServerFrame', () => {
  it('reads each frame a client acts on into its typed shape', () => {
    const frames = [
      { type: 'posted', id: 'r1', status },
      { type: 'subscribed', id: 'r2', channels: ['user:alice'], missed: { 'user:alice': [status] }, truncated: ['user:alice'] },
      { type: 'history', id: 'r3', channel: 'inbox:alice', items: [{ id: 'n1', kind: 'follow', from: 'bob', at: status.createdAt }], next: 'n1' },
      { type: 'presence', id: 'r4', users: [{ user: 'bob', online: false, lastSeen: status.createdAt }, { user: 'eve', online: false }] },
      { type: 'following', id: 'r5', users: ['bob'] },
      { type: 'feed', id: 'r7', items: [{ ...status, pos: 3 }], next: status.id, replyCounts: { [status.id]: 2 } },
      { type: 'feed', id: 'r8', items: [] },
      { type: 'statuses', id: 'r9', statuses: [status], missing: ['01JD5Q8V0M3ZK9X4T2B7C6N1RB'], truncated: ['01JD5Q8V0M3ZK9X4T2B7C6N1RC'] },
      { type: 'status', channel: 'user:alice', status: { ...status, replyTo: status.id, thread: status.id } },
      { type: 'notification', notification: { id: 'n2', kind: 'reply', from: 'bob', status, at: status.createdAt } },
      { type: 'error', id: 'r6', code: 'rate_limited', message: 'posting too fast; try again in 0.6 s' },
      { type: 'pong' },
    ];

    for (const frame of frames) expect(parseServerFrame(JSON.stringify(frame))).toEqual({ ok: true, frame });
  });

  it('ignores fields it does not know, and reads a wait the server gives in retryAfterMs', () => {
    const parsed = parseServerFrame(JSON.stringify({ type: 'error', code: 'rate_limited', message: 'wait', retryAfterMs: 600, extra: 1 }));

    expect(parsed).toEqual({ ok: true, frame: { type: 'error', code: 'rate_limited', message: 'wait', retryAfterMs: 600 } });
  });

  it('reads an error code outside the protocol as internal, naming it', () => {
    const parsed = parseServerFrame(JSON.stringify({ type: 'error', code: 'teapot', message: 'no' }));

    expect(parsed).toEqual({ ok: true, frame: { type: 'error', code: 'internal', message: 'no (unknown error code "teapot")' } });
  });

  it.each([
    ['not json', 'the frame is not JSON'],
    ['[1]', 'the frame is not a JSON object'],
    ['{}', 'the frame has no type'],
    ['{"type":"surprise"}', 'unknown frame type "surprise"'],
    [JSON.stringify({ type: 'status', status }), 'channel is not a string'],
    [JSON.stringify({ type: 'status', channel: 'user:a', status: { ...status, id: 7 } }), 'status.id is not a string'],
    [JSON.stringify({ type: 'history', channel: 'user:a', items: [{ ...status, text: null }] }), 'items[0].text is not a string'],
    [JSON.stringify({ type: 'notification', notification: { id: 'n', kind: 'like', from: 'b', at: '' } }), 'notification.kind is not reply or follow'],
    [JSON.stringify({ type: 'presence', users: [{ user: 'b', online: 'yes' }] }), 'users[0].online is not true or false'],
    [JSON.stringify({ type: 'subscribed', channels: 'user:a' }), 'channels is not a list'],
    [JSON.stringify({ type: 'pong', id: 3 }), 'id is not a string'],
  ])('refuses %s: %s', (data, reason) => {
    expect(parseServerFrame(data)).toEqual({ ok: false, reason });
  });
});
