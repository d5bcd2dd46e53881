import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CreateTableCommand, UpdateTimeToLiveCommand, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb';
import { TableLayouts, type KeyAttribute, type TableLayout, type TableName } from '../../shared/schema';
import { freePort } from './local-stack';

/** Table names as the stores get them from the environment; here, the layout's names. */
export const tableNames: Readonly<Record<TableName, string>> = { Statuses: 'Statuses', Connections: 'Connections', Follows: 'Follows' };

export interface StoreDatabase {
  readonly db: DynamoDBDocumentClient;
  /** Where it listens, for clients of other threads or processes. */
  readonly endpoint: string;
  stop(): Promise<void>;
}

/**
 * One DynamoDB Local per test file, in memory, on a free port, with the three
 * tables created from shared/schema.ts, the module the CDK stack builds them
 * from. Store tests run against it, so conditions, key expressions and TTL
 * attributes are evaluated by DynamoDB, not asserted as strings.
 */
export async function startStoreDatabase(): Promise<StoreDatabase> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'updraft-store-test-'));
  let local: DynamoDbLocal | undefined;
  try {
    local = await startDynamoDbLocal(await freePort(), undefined, 'us-east-1', stateDir);
    for (const [name, layout] of Object.entries(TableLayouts)) {
      await local.client.send(new CreateTableCommand(createTableInput(name, layout)));
      if ('ttlAttribute' in layout) {
        await local.client.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: layout.ttlAttribute, Enabled: true } }));
      }
    }
  } catch (error) {
    await local?.stop();
    rmSync(stateDir, { recursive: true, force: true });
    throw error;
  }
  const started = local;
  const db = DynamoDBDocumentClient.from(started.client, { marshallOptions: { removeUndefinedValues: true } });
  return {
    db,
    endpoint: started.endpoint,
    stop: async () => {
      await started.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** A table as shared/schema.ts lays it out, under `name`. */
export function createTableInput(name: string, layout: TableLayout): CreateTableCommandInput {
  const attributes = new Map<string, KeyAttribute>();
  for (const key of [layout.partitionKey, layout.sortKey, ...layout.indexes.flatMap((index) => (index.sortKey ? [index.partitionKey, index.sortKey] : [index.partitionKey]))]) {
    attributes.set(key.name, key);
  }
  const schema = (partition: KeyAttribute, sort?: KeyAttribute) => [
    { AttributeName: partition.name, KeyType: 'HASH' as const },
    ...(sort ? [{ AttributeName: sort.name, KeyType: 'RANGE' as const }] : []),
  ];
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes.values()].map(({ name: AttributeName, type: AttributeType }) => ({ AttributeName, AttributeType })),
    KeySchema: schema(layout.partitionKey, layout.sortKey),
    ...(layout.stream ? { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' } } : {}),
    ...(layout.indexes.length > 0
      ? {
          GlobalSecondaryIndexes: layout.indexes.map((index) => ({
            IndexName: index.name,
            KeySchema: schema(index.partitionKey, index.sortKey),
            Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.nonKeyAttributes] },
          })),
        }
      : {}),
  };
}
