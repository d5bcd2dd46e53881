/**
 * Benchmark: how long the WebSocket handshake takes on the local stack for a
 * user who follows N people (default 1,000, the limit), since $connect
 * subscribes the new connection to all of them. Prints figures; asserts nothing.
 * Run with `npm run bench:connect`.
 */
import { BatchWriteCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { cpus } from 'node:os';
import * as path from 'node:path';
import { synthIfStale } from '../../local/synth';
import { LocalStack, TEST_ASSEMBLY } from '../support/local-stack';
import { TestClient } from '../support/ws-client';

const FOLLOWS = Number(process.env['BENCH_FOLLOWS'] ?? 1000);
const CONNECTS = Number(process.env['BENCH_CONNECTS'] ?? 20);

async function waitUntilDisconnected(db: DynamoDBDocumentClient, table: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { Count = 0 } = await db.send(
      new QueryCommand({ TableName: table, IndexName: 'byUser', KeyConditionExpression: 'userId = :u', ExpressionAttributeValues: { ':u': 'fan' }, Select: 'COUNT' }),
    );
    if (Count === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function main(): Promise<void> {
  synthIfStale(path.resolve(__dirname, '..', '..'), TEST_ASSEMBLY, console.log);
  // The handshakes themselves are measured: the connect budget (10 at once at 1,000 follows, then one every 20 s) is lifted.
  const stack = await LocalStack.start({ env: { UPDRAFT_FUNCTION_ENV: 'CONNECT_RATE_BURST=1000000,CONNECT_RATE_PER_SECOND=1000000' } });
  try {
    const db = stack.documentClient();
    const table = stack.tableName('Follows');
    const users = Array.from({ length: FOLLOWS }, (_, i) => `followed${i}`);
    for (let i = 0; i < users.length; i += 25) {
      await db.send(new BatchWriteCommand({ RequestItems: { [table]: users.slice(i, i + 25).map((followed) => ({ PutRequest: { Item: { follower: 'fan', followed } } })) } }));
    }
    const token = await stack.token('fan');
    const timings: number[] = [];
    for (let i = 0; i < CONNECTS + 2; i++) {
      const started = performance.now();
      const client = await TestClient.open(`${stack.wsUrl}?token=${token}`);
      const elapsed = performance.now() - started;
      if (i >= 2) timings.push(elapsed); // the first two warm the functions up
      await client.close();
      // Let $disconnect remove the 1,000 subscriptions first: on one machine DynamoDB Local would
      // otherwise serve both at once, which tables on AWS do not make anyone wait for.
      await waitUntilDisconnected(db, stack.tableName('Connections'));
    }
    timings.sort((a, b) => a - b);
    const at = (p: number) => (timings[Math.min(timings.length - 1, Math.floor((p / 100) * timings.length))] ?? NaN).toFixed(0);
    console.log(`\n$connect for a user who follows ${FOLLOWS} people: ${CONNECTS} handshakes after 2 warm-up ones`);
    console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`);
    console.log(`p50 ${at(50)} ms, p90 ${at(90)} ms, max ${(timings.at(-1) ?? NaN).toFixed(0)} ms (target: under 1,000 ms)`);
  } finally {
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
