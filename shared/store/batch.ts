import { BatchGetCommand, BatchWriteCommand, type BatchGetCommandOutput, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { NativeAttributeValue } from '@aws-sdk/util-dynamodb';
import pLimit from 'p-limit';

type WriteRequest = NonNullable<NonNullable<ConstructorParameters<typeof BatchWriteCommand>[0]['RequestItems']>[string]>[number];

const BATCH_SIZE = 25;
const MAX_ROUNDS = 8;

/**
 * Writes every request, 25 at a time with up to `parallel` batches in flight,
 * sending back what DynamoDB left unprocessed (it does so under throttling)
 * with a growing, jittered pause.
 */
export async function batchWriteAll(db: DynamoDBDocumentClient, table: string, requests: WriteRequest[], parallel = 8): Promise<void> {
  const limit = pLimit(parallel);
  const chunks: WriteRequest[][] = [];
  for (let start = 0; start < requests.length; start += BATCH_SIZE) chunks.push(requests.slice(start, start + BATCH_SIZE));
  await Promise.all(
    chunks.map((chunk) =>
      limit(async () => {
        let pending = chunk;
        for (let round = 0; pending.length > 0; round++) {
          if (round === MAX_ROUNDS) throw new Error(`DynamoDB left ${pending.length} writes unprocessed on ${table}`);
          if (round > 0) await sleep(Math.random() * 25 * 2 ** round);
          const result = await db.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
          pending = result.UnprocessedItems?.[table] ?? [];
        }
      }),
    ),
  );
}

type Key = Record<string, NativeAttributeValue>;
const GET_SIZE = 100;

export interface BatchGetOptions {
  /** Batches in flight at once. @default 10 */
  readonly parallel?: number;
  /** Strongly consistent (a read unit per item of up to 4 KB), or eventually (half that). @default true */
  readonly consistent?: boolean;
}

/**
 * Reads every key, 100 at a time with up to `parallel` batches in flight, asking again for what
 * DynamoDB left unprocessed (it does so under throttling) with a growing, jittered pause, as
 * batchWriteAll does. Items come back in no particular order.
 */
export async function batchGetAll(
  db: DynamoDBDocumentClient,
  table: string,
  keys: readonly Key[],
  { parallel = 10, consistent = true }: BatchGetOptions = {},
): Promise<Record<string, NativeAttributeValue>[]> {
  const limit = pLimit(parallel);
  const chunks: Key[][] = [];
  for (let start = 0; start < keys.length; start += GET_SIZE) chunks.push(keys.slice(start, start + GET_SIZE));
  const pages = await Promise.all(
    chunks.map((chunk) =>
      limit(async () => {
        const items: Record<string, NativeAttributeValue>[] = [];
        let pending: Key[] | undefined = chunk;
        for (let round = 0; pending && pending.length > 0; round++) {
          if (round === MAX_ROUNDS) throw new Error(`DynamoDB left ${pending.length} reads unprocessed on ${table}`);
          if (round > 0) await sleep(Math.random() * 25 * 2 ** round);
          const result: BatchGetCommandOutput = await db.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: pending, ConsistentRead: consistent } } }));
          items.push(...(result.Responses?.[table] ?? []));
          pending = result.UnprocessedKeys?.[table]?.Keys;
        }
        return items;
      }),
    ),
  );
  return pages.flat();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
