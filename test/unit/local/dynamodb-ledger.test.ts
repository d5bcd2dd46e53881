import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { entryOf, itemBytes, startDynamoDbLedger } from '../../../local/dynamodb-ledger';

const partitionKeys = new Map([
  ['T', 'pk'],
  ['U', 'userId'],
  ['T/byUser', 'userId'],
]);

/** How the ledger counts a request, where it counts as AWS bills rather than as DynamoDB Local reports. */
describe('the DynamoDB ledger', () => {
  const small = { pk: { S: 'head#user:ann' }, sk: { S: 'head' }, seq: { N: '42' } };

  it("takes DynamoDB Local's consumed capacity for single-item reads, writes and queries", () => {
    expect(entryOf('Feed', 'Query', { TableName: 'T' }, { Count: 3, ConsumedCapacity: { TableName: 'T', CapacityUnits: 0.5 } }, 200)).toEqual({
      fn: 'Feed',
      op: 'Query',
      readUnits: 0.5,
      writeUnits: 0,
      itemsWritten: 0,
      itemsRead: 3,
      access: [{ action: 'Query', table: 'T', leadingKeys: [] }],
    });
    expect(entryOf('Connect', 'PutItem', { Item: small }, { ConsumedCapacity: { CapacityUnits: 5 } }, 200)).toMatchObject({ readUnits: 0, writeUnits: 5, itemsWritten: 1 });
  });

  it('counts every key of a BatchGetItem as a read of its own, a missing one too, halved when eventually consistent', () => {
    const big = { ...small, text: { S: 'x'.repeat(5000) } };
    const input = { RequestItems: { T: { Keys: [{}, {}, {}] }, U: { Keys: [{}], ConsistentRead: true } } };
    // T: a small item (1), a 5 KB one (2) and a missing key (1), eventually consistent; U: a missing key, strongly.
    expect(entryOf('Feed', 'BatchGetItem', input, { Responses: { T: [small, big], U: [] }, ConsumedCapacity: [{ CapacityUnits: 0.5 }] }, 200)).toMatchObject({
      readUnits: 0.5 * (1 + 2 + 1) + 1,
      itemsRead: 2,
    });
  });

  it('charges a transaction two units per item and KB, condition checks included, and writes only its puts, updates and deletes', () => {
    const input = { TransactItems: [{ Put: { Item: small } }, { Put: { Item: { ...small, text: { S: 'y'.repeat(1500) } } } }, { Update: {} }, { ConditionCheck: {} }] };
    expect(entryOf('Post', 'TransactWriteItems', input, {}, 200)).toMatchObject({ writeUnits: 2 * (1 + 2 + 1 + 1), itemsWritten: 3 });
  });

  it('charges a refused write as AWS does, and names the error', () => {
    expect(entryOf('Connect', 'UpdateItem', {}, { __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException' }, 400)).toEqual({
      fn: 'Connect',
      op: 'UpdateItem',
      readUnits: 0,
      writeUnits: 1,
      itemsWritten: 1,
      itemsRead: 0,
      error: 'ConditionalCheckFailedException',
      access: [{ action: 'UpdateItem', table: '', leadingKeys: [] }],
    });
  });

  it('names each action on each table or index with the partition keys it reaches, as IAM checks dynamodb:LeadingKeys', () => {
    const key = (pk: string) => ({ pk: { S: pk }, sk: { S: 'x' } });
    const at = (op: string, input: Record<string, unknown>) => entryOf('F', op, input, {}, 200, partitionKeys).access;
    expect(at('PutItem', { TableName: 'T', Item: key('open#ada') })).toEqual([{ action: 'PutItem', table: 'T', leadingKeys: ['open#ada'] }]);
    expect(
      at('Query', { TableName: 'T', KeyConditionExpression: '#p = :p AND sk > :s', ExpressionAttributeNames: { '#p': 'pk' }, ExpressionAttributeValues: { ':p': { S: 'chan#a#0' }, ':s': { S: 'b' } } }),
    ).toEqual([{ action: 'Query', table: 'T', leadingKeys: ['chan#a#0'] }]);
    expect(at('Query', { TableName: 'T', IndexName: 'byUser', KeyConditionExpression: 'userId = :u', ExpressionAttributeValues: { ':u': { S: 'ada' } } })).toEqual([
      { action: 'Query', table: 'T', index: 'byUser', leadingKeys: ['ada'] },
    ]);
    expect(at('BatchWriteItem', { RequestItems: { T: [{ PutRequest: { Item: key('chan#a#0') } }, { DeleteRequest: { Key: key('chan#b#1') } }] } })).toEqual([
      { action: 'BatchWriteItem', table: 'T', leadingKeys: ['chan#a#0', 'chan#b#1'] },
    ]);
    expect(at('TransactWriteItems', { TransactItems: [{ Put: { TableName: 'T', Item: key('user:ada') } }, { ConditionCheck: { TableName: 'U', Key: { userId: { S: 'ada' } } } }] })).toEqual([
      { action: 'PutItem', table: 'T', leadingKeys: ['user:ada'] },
      { action: 'ConditionCheckItem', table: 'U', leadingKeys: ['ada'] },
    ]);
  });

  it("sizes an item by its attributes' names and values, as DynamoDB does", () => {
    expect(itemBytes({ ab: { S: 'héllo' }, n: { N: '12345' }, ok: { BOOL: true } })).toBe(2 + 6 + 1 + 4 + 2 + 1);
    expect(itemBytes({ l: { L: [{ S: 'ab' }, { N: '1' }] }, m: { M: { k: { S: 'v' } } } })).toBe(1 + 3 + (1 + 2) + (1 + 2) + 1 + 3 + (1 + 1 + 1));
  });

  it('forwards a request under the upstream host with ReturnConsumedCapacity, records it by function, and refuses web pages and foreign hosts', async () => {
    const seen: { headers: IncomingHttpHeaders; body: Record<string, unknown> }[] = [];
    const upstream = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ headers: req.headers, body: JSON.parse(body) as Record<string, unknown> });
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify({ Item: small, ConsumedCapacity: { CapacityUnits: 1 } }));
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const target = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const dir = mkdtempSync(path.join(tmpdir(), 'ledger-test-'));
    const ledger = await startDynamoDbLedger(target, path.join(dir, 'ledger.jsonl'), partitionKeys);
    const send = (headers: Record<string, string>) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const { port } = new URL(ledger.endpoint);
        const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'x-amz-target': 'DynamoDB_20120810.GetItem', host: `127.0.0.1:${port}`, ...headers } }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ TableName: 'T', Key: { pk: { S: 'open#ada' } } }));
      });
    try {
      expect(await send({ 'user-agent': 'aws-sdk-js/3 app/Connect5B7625CA-PT-NO-OP' })).toMatchObject({ status: 200 });
      expect(seen[0]?.headers.host).toBe(new URL(target).host);
      expect(seen[0]?.body).toMatchObject({ TableName: 'T', ReturnConsumedCapacity: 'TOTAL' });
      expect(JSON.parse(readFileSync(path.join(dir, 'ledger.jsonl'), 'utf8'))).toMatchObject({ fn: 'Connect5B7625CA', op: 'GetItem', readUnits: 1, itemsRead: 1, access: [{ leadingKeys: ['open#ada'] }] });

      expect(await send({ host: 'evil.example:8000' })).toMatchObject({ status: 403 });
      expect(await send({ origin: 'http://evil.example' })).toMatchObject({ status: 403 });
      expect(seen).toHaveLength(1);
    } finally {
      await ledger.stop();
      await new Promise((resolve) => upstream.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
