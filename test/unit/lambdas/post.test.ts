import { expect } from '@jest/globals';
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { handler } from '../../../lambdas/post';
import { messageEvent, replyOf } from '../../support/events';
import { acceptPosts, mockDocumentClient } from '../../support/post-mocks';
import { aStatus } from '../../support/stream';

const ddb = mockDocumentClient();

const ROOT = aStatus({ id: '01JD00000000000000000R00T0', author: 'bob' });
const written = () => ddb.commandCalls(TransactWriteCommand).flatMap((call) => call.args[0].input.TransactItems ?? []);
const writtenChannels = () => written().flatMap((item): unknown => (item.Put ? [item.Put.Item?.['channel'] ?? item.Put.Item?.['pk']] : []));
/** The channel heads each transaction advanced. */
const advancedHeads = () => written().flatMap((item): unknown => (item.Update ? [item.Update.Key?.['channel']] : []));

const RATE_KEY = { pk: 'rate#alice', sk: 'rate' };
const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
const rateUpdates = () => ddb.commandCalls(UpdateCommand).map((call) => call.args[0].input);

beforeEach(() => {
  acceptPosts(ddb);
});

describe('post', () => {
  it('stores the status by id and on the author channel, then answers posted', async () => {
    const reply = replyOf(await handler(messageEvent({ action: 'post', text: '  hello  ' })));

    expect(reply).toMatchObject({ type: 'posted', status: { author: 'alice', text: 'hello' } });
    const status = reply['status'] as { id: string; createdAt: string };
    expect(status.id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(writtenChannels()).toEqual([`status:${status.id}`, 'user:alice']);
    expect(advancedHeads()).toEqual(['head#user:alice']);
    expect(reply).not.toHaveProperty('id');
  });

  it('takes the author from the authorizer, never from the frame', async () => {
    const reply = replyOf(await handler(messageEvent({ action: 'post', text: 'hi', author: 'mallory' }, { userId: 'alice' })));

    expect(reply).toMatchObject({ status: { author: 'alice' } });
  });

  it('files a reply in the thread of its root and notifies the author answered', async () => {
    const parent = aStatus({ id: '01JD0000000000000000PARENT', author: 'carol', replyTo: ROOT.id, thread: ROOT.id });
    ddb.on(GetCommand, { Key: { channel: `status:${parent.id}`, id: parent.id } }).resolves({ Item: { ...parent, channel: `status:${parent.id}`, kind: 'status' } });

    const reply = replyOf(await handler(messageEvent({ action: 'post', text: 'agreed', replyTo: parent.id, id: 'r1' })));

    const status = reply['status'] as { id: string };
    expect(reply).toMatchObject({ type: 'posted', id: 'r1', status: { replyTo: parent.id, thread: ROOT.id } });
    expect(writtenChannels()).toEqual(['post#alice#r1', `status:${status.id}`, 'user:alice', `thread:${ROOT.id}`, 'inbox:carol']);
    expect(written().find((item) => item.Put?.Item?.['channel'] === 'inbox:carol')?.Put?.Item).toMatchObject({ kind: 'notification', notification: { kind: 'reply', from: 'alice', status }, pos: 1 });
    expect(advancedHeads()).toEqual(['head#user:alice', `head#thread:${ROOT.id}`, 'head#inbox:carol']);
  });

  it('does not notify people who answer themselves', async () => {
    ddb.on(GetCommand).resolves({ Item: { ...ROOT, author: 'alice', channel: `status:${ROOT.id}`, kind: 'status' } });

    await handler(messageEvent({ action: 'post', text: 'and another thing', replyTo: ROOT.id }));

    expect(writtenChannels()).toEqual([expect.stringMatching(/^status:/), 'user:alice', `thread:${ROOT.id}`]);
  });

  it('answers not_found for a reply to no status, and stores nothing', async () => {
    const reply = replyOf(await handler(messageEvent({ action: 'post', text: 'hello?', replyTo: ROOT.id, id: 'r2' })));

    expect(reply).toEqual({ type: 'error', id: 'r2', code: 'not_found', message: expect.stringContaining(ROOT.id) });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('returns the first status for a request id used again, delivering nothing new', async () => {
    const first = aStatus({ id: '01JD000000000000000F1RST0' });
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: 'Transaction cancelled',
        $metadata: {},
        CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }, { Code: 'None' }],
      }),
    );
    ddb.on(GetCommand, { Key: { pk: 'post#alice#retry-1', sk: 'post' } }).resolves({ Item: { pk: 'post#alice#retry-1', sk: 'post', status: first, expiresAt: Math.floor(Date.now() / 1000) + 300 } });

    const reply = replyOf(await handler(messageEvent({ action: 'post', text: 'hello', id: 'retry-1' })));

    expect(reply).toEqual({ type: 'posted', id: 'retry-1', status: first });
    const claim = ddb.commandCalls(TransactWriteCommand)[0]?.args[0].input.TransactItems?.[0]?.Put;
    expect(claim).toMatchObject({ TableName: 'Connections', Item: { pk: 'post#alice#retry-1', sk: 'post' } });
    expect(claim?.Item?.['expiresAt']).toBeGreaterThan(Date.now() / 1000 + 590);
  });

  it('waits out a transaction conflict with its own first attempt, then returns the first status', async () => {
    const first = aStatus({ id: '01JD000000000000000F1RST1' });
    ddb.on(TransactWriteCommand)
      .rejectsOnce(new TransactionCanceledException({ message: 'conflict', $metadata: {}, CancellationReasons: [{ Code: 'TransactionConflict' }, { Code: 'None' }] }))
      .rejectsOnce(new TransactionCanceledException({ message: 'claimed', $metadata: {}, CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }] }));
    ddb.on(GetCommand, { Key: { pk: 'post#alice#fast', sk: 'post' } }).resolves({ Item: { status: first, expiresAt: Math.floor(Date.now() / 1000) + 300 } });

    const reply = replyOf(await handler(messageEvent({ action: 'post', text: 'hello', id: 'fast' })));

    expect(reply).toEqual({ type: 'posted', id: 'fast', status: first });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(2);
  });

  it("takes a token from the author's bucket before it writes", async () => {
    const before = Date.now();

    replyOf(await handler(messageEvent({ action: 'post', text: 'hi' })));

    // How the bucket fills and empties is tested against DynamoDB Local (test/integration/store/limits.test.ts).
    const [charge] = rateUpdates();
    expect(charge).toMatchObject({ TableName: 'Connections', Key: RATE_KEY });
    expect(charge?.ExpressionAttributeValues?.[':now']).toBeGreaterThanOrEqual(before);
    expect(ddb.commandCalls(UpdateCommand)[0]?.args[0].input.Key).toEqual(RATE_KEY);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });

  it('answers rate_limited when the bucket is empty, and stores nothing', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(GetCommand, { Key: RATE_KEY }).callsFake(() => ({ Item: { tat: Date.now() + 9000 + 700 } }));

    const reply = replyOf(await handler(messageEvent({ action: 'post', text: 'too fast', id: 'r3' })));

    expect(reply).toEqual({ type: 'error', id: 'r3', code: 'rate_limited', message: expect.stringMatching(/try again in 0\.[7-8] s/), retryAfterMs: expect.any(Number) });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('answers a retry refused by the rate limit from its claim, writing nothing', async () => {
    const first = aStatus({ id: '01JD000000000000000F1RST2' });
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(GetCommand, { Key: RATE_KEY }).callsFake(() => ({ Item: { tat: Date.now() + 60_000 } }));
    ddb.on(GetCommand, { Key: { pk: 'post#alice#again', sk: 'post' } }).resolves({ Item: { status: first, expiresAt: Math.floor(Date.now() / 1000) + 300 } });

    const reply = replyOf(await handler(messageEvent({ action: 'post', text: 'hello', id: 'again' })));

    expect(reply).toEqual({ type: 'posted', id: 'again', status: first });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('does not answer from a claim that has expired but is not yet deleted', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    ddb.on(GetCommand, { Key: RATE_KEY }).callsFake(() => ({ Item: { tat: Date.now() + 60_000 } }));
    ddb.on(GetCommand, { Key: { pk: 'post#alice#old', sk: 'post' } }).resolves({ Item: { status: aStatus(), expiresAt: Math.floor(Date.now() / 1000) - 5 } });

    const reply = replyOf(await handler(messageEvent({ action: 'post', text: 'hello', id: 'old' })));

    expect(reply).toMatchObject({ type: 'error', id: 'old', code: 'rate_limited' });
  });

  it('gives the token back when the post turns out to be a retry', async () => {
    const first = aStatus({ id: '01JD000000000000000F1RST3' });
    ddb.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({ message: 'claimed', $metadata: {}, CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }] }),
    );
    ddb.on(GetCommand, { Key: { pk: 'post#alice#dup', sk: 'post' } }).resolves({ Item: { status: first, expiresAt: Math.floor(Date.now() / 1000) + 300 } });

    await handler(messageEvent({ action: 'post', text: 'hello', id: 'dup' }));

    expect(rateUpdates().map((u) => u.Key)).toEqual([RATE_KEY, RATE_KEY]);
    expect(rateUpdates()[1]).toMatchObject({ Key: RATE_KEY, ExpressionAttributeValues: { ':interval': 1000 } });
  });

  it.each([
    ['no text', { action: 'post' }],
    ['blank text', { action: 'post', text: ' \n ' }],
    ['text too long', { action: 'post', text: 'x'.repeat(501) }],
    ['a malformed replyTo', { action: 'post', text: 'hi', replyTo: 'abc' }],
    ['a numeric id', { action: 'post', text: 'hi', id: 7 }],
  ])('answers bad_request for %s and stores nothing', async (_, frame) => {
    const reply = replyOf(await handler(messageEvent(frame)));

    expect(reply).toMatchObject({ type: 'error', code: 'bad_request' });
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
    // Validation comes first: a malformed frame costs its author nothing.
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
  });

  it('answers internal without leaking the cause when storage fails', async () => {
    ddb.on(TransactWriteCommand).rejects(new Error('ProvisionedThroughputExceeded at arn:aws:dynamodb:secret-table'));

    const reply = replyOf(await handler(messageEvent({ action: 'post', text: 'hi', id: 'r9' })));

    expect(reply).toEqual({ type: 'error', id: 'r9', code: 'internal', message: 'internal error; try again' });
  });
});
