import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
