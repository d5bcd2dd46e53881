import { DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { newId } from '../../../../shared/ids';
import { PostLog } from '../../../../shared/store/posts';

/**
 * How a commit answers each reason DynamoDB gives for cancelling its transaction. The race itself
 * is tested against DynamoDB Local (test/integration/store/posts.test.ts), which runs transactions
 * one at a time and so never reports one in flight: these reasons are fed here by hand.
 */
const ddb = mockClient(DynamoDBDocumentClient);
const claims = { claimWrite: () => ({}), claimed: () => Promise.resolve(undefined) };
const log = new PostLog(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), 'Statuses', claims, () => 0);
const cancelled = (...codes: string[]) =>
  new TransactionCanceledException({ message: 'Transaction cancelled', $metadata: {}, CancellationReasons: codes.map((Code) => ({ Code })) });
const entry = () => {
  const status = { id: newId(), author: 'ann', text: 'hi', createdAt: new Date().toISOString() };
  return { status, channels: ['user:ann' as const] };
};
const written = () => ddb.commandCalls(TransactWriteCommand).map((call) => call.args[0].input.TransactItems?.[0]?.Put?.Item?.['id'] as string);

beforeEach(() => {
  ddb.reset();
  ddb.on(BatchGetCommand).resolves({});
});

describe('PostLog commit retries', () => {
  it("tries the same id again, after a pause, when another transaction is in flight on the status's copy", async () => {
    // Items: the copy, the channel row, the channel head.
    ddb.on(TransactWriteCommand).rejectsOnce(cancelled('TransactionConflict', 'None', 'None')).resolves({});
    const { status } = entry();

    const result = await log.append({ status, channels: ['user:ann'] });

    expect(result).toEqual({ status, duplicate: false });
    expect(written()).toEqual([status.id, status.id]);
  });

  it('moves above the id, clear of the ids made with it in the same millisecond, when it names another status already', async () => {
    ddb.on(TransactWriteCommand).rejectsOnce(cancelled('ConditionalCheckFailed', 'None', 'None')).resolves({});
    const { status } = entry();

    const result = await log.append({ status, channels: ['user:ann'] });

    expect(written()).toHaveLength(2);
    expect((written()[1] ?? '') > status.id).toBe(true);
    // Not the next id: a burst's ids from one process are consecutive, and that one is likely taken too.
    expect((written()[1] ?? '').slice(0, 18) > status.id.slice(0, 18)).toBe(true);
    expect(result.status.id).toBe(written()[1]);
  });

  it('gives up on a reason that is no race', async () => {
    ddb.on(TransactWriteCommand).rejects(cancelled('ValidationError', 'None', 'None'));

    await expect(log.append(entry())).rejects.toBeInstanceOf(TransactionCanceledException);
    expect(written()).toHaveLength(1);
  });
});
