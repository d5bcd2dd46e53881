import { DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../../lambdas/history';
import { statusItem } from '../../../shared/store/items';
import { messageEvent, replyOf } from '../../support/events';
import { aStatus } from '../../support/stream';

const ddb = mockClient(DynamoDBDocumentClient);
const id = (n: number) => `01JD${String(n).padStart(22, '0')}`;

/** A channel of 30 statuses; the mock answers Queries in either direction from a cursor. */
beforeEach(() => {
  ddb.reset();
  const ids = Array.from({ length: 30 }, (_, i) => id(i + 1));
  ddb.on(QueryCommand).callsFake((input: QueryCommandInput) => {
    const cursor = input.ExpressionAttributeValues?.[':cursor'] as string | undefined;
    const ordered = input.ScanIndexForward ? ids : [...ids].reverse();
    const after = cursor === undefined ? ordered : ordered.filter((x) => (input.ScanIndexForward ? x > cursor : x < cursor));
    return { Items: after.slice(0, input.Limit).map((x) => statusItem('user:bob', aStatus({ id: x, author: 'bob' }))) };
  });
});

const ids = (reply: Record<string, unknown>) => (reply['items'] as { id: string }[]).map((item) => item.id);

describe('history', () => {
  it('pages newest first by default, with a cursor for the next page', async () => {
    const reply = replyOf(await handler(messageEvent({ action: 'history', id: 'h1', channel: 'user:bob', limit: 5 })));

    expect(ids(reply)).toEqual([30, 29, 28, 27, 26].map(id));
    expect(reply).toMatchObject({ type: 'history', id: 'h1', channel: 'user:bob', next: id(26) });
  });

  it('pages oldest first after a cursor, and leaves next out at the end', async () => {
    const reply = replyOf(await handler(messageEvent({ action: 'history', channel: 'user:bob', after: id(27) })));

    expect(ids(reply)).toEqual([28, 29, 30].map(id));
    expect(reply).not.toHaveProperty('next');
  });

  it('pages below a before cursor', async () => {
    const reply = replyOf(await handler(messageEvent({ action: 'history', channel: 'user:bob', before: id(3), limit: 2 })));

    expect(ids(reply)).toEqual([id(2), id(1)]);
    expect(reply).not.toHaveProperty('next');
  });

  it("refuses another user's inbox", async () => {
    const reply = replyOf(await handler(messageEvent({ action: 'history', channel: 'inbox:bob' }, { userId: 'alice' })));

    expect(reply).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(0);
  });
});
