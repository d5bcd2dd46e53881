import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { expect } from '@jest/globals';
import { UpdraftStack } from '../../cdk/updraft-stack';
import { allows, at, indexArn as arnOfIndex, list, resourcesOf, roleStatements, tableArn as arnOfTable, type Statement } from '../support/template-json';

/**
 * Least privilege to the row: what each function's role lets it do with each kind of row of
 * each table, found by evaluating the statements the template holds (actions, resources and
 * the dynamodb:LeadingKeys condition) for a sample key of every kind, not by matching their text.
 * The table below is what the handlers and the stores they call do (lambdas/, shared/store/).
 */
// Skip esbuild here: these tests read the template, not the bundles.
const template = Template.fromStack(new UpdraftStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Test'));
const resources = resourcesOf(template);

const idOf = (type: string, name: string) => {
  // CDK names a resource by its construct id and an 8-digit hash: `Follow` must not find `Following`.
  const ids = Object.keys(resources).filter((id) => new RegExp(`^${name}[0-9A-F]{8}$`).test(id) && resources[id]?.Type === type);
  if (ids.length !== 1 || ids[0] === undefined) throw new Error(`expected one ${type} named ${name}, found ${ids.length}`);
  return ids[0];
};

/** A sample partition key of every kind of row (shared/schema.ts), by table. */
const ROWS = {
  Connections: { 'conn#': 'conn#AbCdEfGhIjKlMnO=', 'chan#': 'chan#user:ada#0', 'presence#': 'presence#ada', 'post#': 'post#ada#r1', 'rate#': 'rate#ada', 'budget#': 'budget#ada', 'churn#': 'churn#ada', 'publish#': 'publish#ada', 'notice#': 'notice#ada#bob', 'open#': 'open#ada' },
  Statuses: {
    'user:': 'user:ada',
    'thread:': 'thread:01J0000000000000000000000A',
    'inbox:': 'inbox:ada',
    'status:': 'status:01J0000000000000000000000A',
    'head#user:': 'head#user:ada',
    'head#thread:': 'head#thread:01J0000000000000000000000A',
    'head#inbox:': 'head#inbox:ada',
  },
  // Keyed by user id, with no prefix: its grants cannot be scoped by key.
  Follows: { '(any)': 'ada' },
} as const;
type Table = keyof typeof ROWS;
type Grants = Partial<{ [T in Table]: Partial<Record<keyof (typeof ROWS)[T], string[]>> }>;

const ACTIONS = ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query', 'Scan', 'BatchGetItem', 'BatchWriteItem', 'ConditionCheckItem'];

const FUNCTIONS = ['Authorizer', 'Connect', 'Disconnect', 'DefaultRoute', 'Post', 'Subscribe', 'Unsubscribe', 'History', 'Feed', 'Get', 'Ping', 'Follow', 'Unfollow', 'Following', 'Presence', 'FanOut', 'Deliver', 'Publish', 'PublishRead', 'PublishInbox'] as const;

/** The action budget (`budget#<userId>`), charged by every message route but post (its own budget) and ping (free). */
const BUDGET = { 'budget#': ['GetItem', 'UpdateItem'] };

/** What a post writes to Statuses, from the WebSocket route or the publish API: the parent by id; the status on its channels, its copy by id, a reply's notification and the channels' heads, in one transaction. */
const POSTS = {
  'user:': ['PutItem'],
  'thread:': ['PutItem'],
  'inbox:': ['PutItem'],
  'status:': ['GetItem', 'PutItem'],
  'head#user:': ['BatchGetItem', 'UpdateItem'],
  'head#thread:': ['BatchGetItem', 'UpdateItem'],
  'head#inbox:': ['BatchGetItem', 'UpdateItem'],
};

/** What each function does with each kind of row, action by action (alphabetical). */
const EXPECTED: Record<(typeof FUNCTIONS)[number], Grants> = {
  Authorizer: {},
  // The connect budget, the connection row, its subscriptions to the people its user follows, "last seen", a slot of the user's connections.
  Connect: {
    Connections: { 'churn#': ['GetItem', 'UpdateItem'], 'conn#': ['PutItem'], 'chan#': ['BatchWriteItem'], 'presence#': ['UpdateItem'], 'open#': ['GetItem', 'PutItem', 'UpdateItem'] },
    Follows: { '(any)': ['Query'] },
  },
  Disconnect: { Connections: { 'conn#': ['BatchWriteItem', 'GetItem'], 'chan#': ['BatchWriteItem'], 'presence#': ['UpdateItem'], 'open#': ['UpdateItem'] } },
  DefaultRoute: {},
  // What a post writes (POSTS); its claim and its rate bucket.
  Post: {
    Statuses: POSTS,
    Connections: { 'post#': ['GetItem', 'PutItem'], 'rate#': ['GetItem', 'UpdateItem'] },
  },
  // What was missed, and each channel's head (its position when the subscription began).
  Subscribe: {
    Statuses: { 'user:': ['Query'], 'thread:': ['Query'], 'inbox:': ['Query'], 'head#user:': ['BatchGetItem'], 'head#thread:': ['BatchGetItem'], 'head#inbox:': ['BatchGetItem'] },
    Connections: { 'conn#': ['GetItem', 'UpdateItem'], 'chan#': ['BatchWriteItem'], ...BUDGET },
  },
  Unsubscribe: { Connections: { 'conn#': ['UpdateItem'], 'chan#': ['BatchWriteItem'], ...BUDGET } },
  History: { Statuses: { 'user:': ['Query'], 'thread:': ['Query'], 'inbox:': ['Query'] }, Connections: BUDGET },
  // Whom the caller follows, their channels' heads and channels, and the page's threads' heads (reply counts).
  Feed: {
    Follows: { '(any)': ['Query'] },
    Statuses: { 'user:': ['Query'], 'head#user:': ['BatchGetItem'], 'head#thread:': ['BatchGetItem'] },
    Connections: BUDGET,
  },
  // Statuses by id, and their threads' heads.
  Get: { Statuses: { 'status:': ['BatchGetItem'], 'head#thread:': ['BatchGetItem'] }, Connections: BUDGET },
  Ping: {},
  // The follow notification goes to the followed user's inbox (advancing its head), and nowhere else in Statuses.
  // Whether the followed user was ever seen (presence#), and the once-a-pair notice (notice#).
  Follow: {
    Follows: { '(any)': ['PutItem', 'UpdateItem'] },
    Connections: { 'conn#': ['GetItem', 'UpdateItem'], 'chan#': ['BatchWriteItem'], 'presence#': ['GetItem'], 'notice#': ['UpdateItem'], ...BUDGET },
    Statuses: { 'inbox:': ['PutItem'], 'head#inbox:': ['BatchGetItem', 'UpdateItem'] },
  },
  Unfollow: { Follows: { '(any)': ['DeleteItem', 'UpdateItem'] }, Connections: { 'conn#': ['UpdateItem'], 'chan#': ['BatchWriteItem'], ...BUDGET } },
  Following: { Follows: { '(any)': ['Query'] }, Connections: BUDGET },
  // Told only for people the caller follows: the caller's follow rows.
  Presence: { Connections: { 'presence#': ['BatchGetItem'], ...BUDGET }, Follows: { '(any)': ['BatchGetItem'] } },
  // Subscribers, the queued mark (in `chan#<channel>#0`), and removing connections API Gateway calls Gone.
  FanOut: { Connections: { 'chan#': ['BatchWriteItem', 'PutItem', 'Query'], 'conn#': ['BatchWriteItem', 'GetItem'] } },
  Deliver: { Connections: { 'chan#': ['BatchWriteItem', 'Query'], 'conn#': ['BatchWriteItem', 'GetItem'] } },
  // The publish API's POST /statuses: what post does, charged to the integration budget (`publish#`), never to `rate#`.
  Publish: {
    Statuses: POSTS,
    Connections: { 'post#': ['GetItem', 'PutItem'], 'publish#': ['GetItem', 'UpdateItem'] },
  },
  // Statuses by id and user:/thread: channels; no inbox.
  PublishRead: { Statuses: { 'status:': ['GetItem'], 'user:': ['Query'], 'thread:': ['Query'] } },
  // Inboxes, and nothing else.
  PublishInbox: { Statuses: { 'inbox:': ['Query'] } },
};

const statementsOf = (fn: string): Statement[] => roleStatements(resources, idOf('AWS::Lambda::Function', fn));
const tableArn = (table: Table) => arnOfTable(idOf('AWS::DynamoDB::Table', table));
const indexArn = (table: Table, index: string) => arnOfIndex(idOf('AWS::DynamoDB::Table', table), index);

/** Whether a function may take `action` on `resource` (an ARN as the template writes it) for an item whose partition key is `leadingKey`. */
const may = (fn: string, action: string, resource: unknown, leadingKey?: string): boolean => allows(statementsOf(fn), action, resource, leadingKey);

/** What the template lets a function do with each kind of row, in the shape of EXPECTED. */
function grantsOf(fn: string): Grants {
  const grants: Record<string, Record<string, string[]>> = {};
  for (const [table, rows] of Object.entries(ROWS) as [Table, Record<string, string>][]) {
    for (const [kind, key] of Object.entries(rows)) {
      const allowed = ACTIONS.filter((action) => may(fn, `dynamodb:${action}`, tableArn(table), key)).sort();
      if (allowed.length > 0) (grants[table] ??= {})[kind] = allowed;
    }
  }
  return grants;
}

describe('least privilege to the row', () => {
  it.each(FUNCTIONS)('%s reaches the kinds of row it works with, with the actions it takes on each, and nothing else', (fn) => {
    expect(grantsOf(fn)).toEqual(EXPECTED[fn]);
  });

  it('lets no function but post write rate buckets, and none but the two that post write idempotency claims, so none can reset them', () => {
    const writes = ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'];
    const writersOf = (key: string) => FUNCTIONS.filter((fn) => writes.some((action) => may(fn, `dynamodb:${action}`, tableArn('Connections'), key)));
    expect(writersOf(ROWS.Connections['rate#'])).toEqual(['Post']);
    expect(writersOf(ROWS.Connections['post#'])).toEqual(['Post', 'Publish']);
  });

  it("lets only the publish API's POST write the integration budget, and it cannot reach the author's own post budget", () => {
    const writes = ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'];
    const writers = FUNCTIONS.filter((fn) => writes.some((action) => may(fn, `dynamodb:${action}`, tableArn('Connections'), ROWS.Connections['publish#'])));
    expect(writers).toEqual(['Publish']);
    expect(ACTIONS.some((action) => may('Publish', `dynamodb:${action}`, tableArn('Connections'), ROWS.Connections['rate#']))).toBe(false);
  });

  it("keeps inboxes from the publish API's channel reader: only its inbox route's function reads them", () => {
    const readers = FUNCTIONS.filter((fn) => fn.startsWith('Publish') && may(fn, 'dynamodb:Query', tableArn('Statuses'), ROWS.Statuses['inbox:']));
    expect(readers).toEqual(['PublishInbox']);
  });

  it('lets only the charged routes write the action budget, and none of them the post budget', () => {
    const writes = ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'];
    const writers = FUNCTIONS.filter((fn) => writes.some((action) => may(fn, `dynamodb:${action}`, tableArn('Connections'), ROWS.Connections['budget#'])));
    expect(writers).toEqual(['Subscribe', 'Unsubscribe', 'History', 'Feed', 'Get', 'Follow', 'Unfollow', 'Following', 'Presence']);
  });

  it('grants Queries of the byUser index on the index only, to the functions that find a user\'s connections', () => {
    const byUser = indexArn('Connections', 'byUser');
    expect(FUNCTIONS.filter((fn) => may(fn, 'dynamodb:Query', byUser))).toEqual(['Follow', 'Unfollow', 'Presence']);
    for (const fn of ['Follow', 'Unfollow', 'Presence']) {
      const indexStatements = statementsOf(fn).filter((s) => JSON.stringify(s.Resource).includes('/index/'));
      expect(indexStatements).toEqual([expect.objectContaining({ Action: 'dynamodb:Query', Resource: byUser })]);
      for (const key of Object.values(ROWS.Connections)) expect(may(fn, 'dynamodb:Query', tableArn('Connections'), key)).toBe(false);
    }
  });

  it('scopes every statement on Statuses and Connections with a LeadingKeys condition on prefixes of shared/schema.ts', () => {
    const prefixes = [...Object.keys(ROWS.Connections), ...Object.keys(ROWS.Statuses)].map((prefix) => `${prefix}*`);
    for (const fn of FUNCTIONS) {
      for (const table of ['Statuses', 'Connections'] as const) {
        const onTable = statementsOf(fn).filter((s) => [s.Resource].flat().some((r) => JSON.stringify(r) === JSON.stringify(tableArn(table))));
        for (const statement of onTable) {
          const patterns = at(statement.Condition, 'ForAllValues:StringLike', 'dynamodb:LeadingKeys');
          expect(list(patterns).length).toBeGreaterThan(0);
          for (const pattern of list(patterns)) expect(prefixes).toContain(pattern);
        }
      }
    }
  });
});
