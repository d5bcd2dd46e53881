import { entryOf, itemBytes } from '../../../local/dynamodb-ledger';

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
    });
  });

  it("sizes an item by its attributes' names and values, as DynamoDB does", () => {
    expect(itemBytes({ ab: { S: 'héllo' }, n: { N: '12345' }, ok: { BOOL: true } })).toBe(2 + 6 + 1 + 4 + 2 + 1);
    expect(itemBytes({ l: { L: [{ S: 'ab' }, { N: '1' }] }, m: { M: { k: { S: 'v' } } } })).toBe(1 + 3 + (1 + 2) + (1 + 2) + 1 + 3 + (1 + 1 + 1));
  });
});
