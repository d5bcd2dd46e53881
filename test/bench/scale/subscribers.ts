import { createHash } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent } from 'node:http';
import { SubscriptionStore } from '../../../shared/store/subscriptions';
import { MemorySubscriptions, type FanOutSubscriptions } from './memory-subscriptions';

export const AUTHOR = 'celebrity';
export const CHANNEL = `user:${AUTHOR}`;
export const REGION = 'us-east-1';

/** Connection ids shaped like API Gateway's (16 characters, URL-safe base64 ending in `=`), the same in every run and thread. */
export function connectionIds(n: number, prefix = ''): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${createHash('md5').update(`subscriber-${i}`).digest().subarray(0, 11).toString('base64url')}=`);
}

/** Where a run's subscribers are, in terms any thread can open. */
export type StoreSpec =
  | { readonly kind: 'memory'; readonly subscribers: number; readonly prefix: string; readonly queryMs: number }
  | { readonly kind: 'dynamodb'; readonly endpoint: string; readonly table: string };

export interface OpenStore {
  readonly store: FanOutSubscriptions;
  /** The in-memory store itself, for the baseline's Scan. */
  readonly memory?: MemorySubscriptions;
  close(): void;
}

/** Opens the subscribers of a spec: the same rows in every thread (a copy each in memory; a client each to DynamoDB Local). */
export function openStore(spec: StoreSpec): OpenStore {
  if (spec.kind === 'memory') {
    const memory = new MemorySubscriptions(spec.queryMs);
    memory.add(CHANNEL, connectionIds(spec.subscribers, spec.prefix));
    return { store: memory, memory, close: () => undefined };
  }
  // As shared/clients.ts builds it for the handlers: keep-alive sockets, 50 at most.
  const client = new DynamoDBClient({
    endpoint: spec.endpoint,
    region: REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 50 }) }),
  });
  const db = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return {
    store: new SubscriptionStore(db, spec.table, { row: () => Promise.reject(new Error('fan-out does not read connection rows')) }),
    close: () => client.destroy(),
  };
}
