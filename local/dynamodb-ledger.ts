import { appendFileSync } from 'node:fs';
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isRecord } from '../shared/protocol/frames';
import { fromBrowser, hostAllowed, stackHosts } from './request-guard';

/**
 * `UPDRAFT_DYNAMODB_LEDGER=<file>`: what each DynamoDB request of the functions costs, one JSON line
 * per request, so that a person or a test can read what an action costs the tables (README, "What
 * a million users cost") and check each request against IAM (test/support/iam-check.ts). The
 * functions' SDK clients reach DynamoDB Local through this loopback proxy by their endpoint setting
 * alone. It asks DynamoDB Local for the capacity each request consumed (`ReturnConsumedCapacity`;
 * clients ignore the extra field in the answer) and learns which function sent it from the SDK's
 * application id (`AWS_SDK_UA_APP_ID`, set per function by the stack).
 *
 * Where DynamoDB Local's figure differs from how AWS bills ("Read/write capacity mode" in the
 * DynamoDB developer guide), the ledger counts as AWS does:
 * - BatchGetItem: each key is a read of its own, rounded up to 4 KB, and a key with no item costs
 *   one read too (Local rounds the batch's total, and charges missing keys nothing);
 * - TransactWriteItems: two units per item and KB, condition checks included, each item's size
 *   taken from a Put's item, and as 1 KB for the others;
 * - a write DynamoDB refuses (a failed condition, a cancelled transaction) consumes capacity on
 *   AWS too, but Local reports none for it: the ledger counts 1 KB per item it named, doubled in
 *   a transaction, the least AWS charges.
 */
export interface LedgerEntry {
  /** The function's logical id, from the SDK's user agent; `unknown` for any other client. */
  readonly fn: string;
  /** The DynamoDB operation, e.g. `PutItem`. */
  readonly op: string;
  readonly readUnits: number;
  readonly writeUnits: number;
  /** Items the request put, updated or deleted, or tried to. */
  readonly itemsWritten: number;
  /** Items the answer carried. */
  readonly itemsRead: number;
  /** The error DynamoDB answered with, if any, e.g. `ConditionalCheckFailedException`. */
  readonly error?: string;
  /** What IAM would check: each action on each table or index, with the partition keys it names (`dynamodb:LeadingKeys`). */
  readonly access: readonly Access[];
}

export interface Access {
  /** The IAM action, without `dynamodb:`: a transaction's parts are PutItem, UpdateItem, DeleteItem, ConditionCheckItem. */
  readonly action: string;
  readonly table: string;
  readonly index?: string;
  readonly leadingKeys: readonly string[];
}

/** A table's partition key attribute, and each of its indexes' (`<table>/<index>`). */
export type PartitionKeys = ReadonlyMap<string, string>;

type Json = Record<string, unknown>;

/** Operations that take ReturnConsumedCapacity; the ledger asks for it on each. */
const CAPACITY_OPS = new Set(['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query', 'Scan', 'BatchGetItem', 'BatchWriteItem', 'TransactGetItems', 'TransactWriteItems']);
const WRITE_OPS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

export interface DynamoDbLedger {
  /** Where the functions send their DynamoDB requests. */
  readonly endpoint: string;
  stop(): Promise<void>;
}

export async function startDynamoDbLedger(target: string, file: string, partitionKeys: PartitionKeys): Promise<DynamoDbLedger> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  let hosts: ReadonlySet<string> = new Set();
  const server = createServer((req, res) => {
    // As DynamoDB Local itself: this machine's clients only, under the proxy's own name (no web page,
    // directly or by DNS rebinding), since the proxy names DynamoDB Local's host for them.
    if (!hostAllowed(req, hosts) || fromBrowser(req)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('the DynamoDB ledger answers only Host 127.0.0.1:<port> or localhost:<port>, and no browser');
      return;
    }
    forward(req, res, upstream, agent, partitionKeys, (entry) => appendFileSync(file, `${JSON.stringify(entry)}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  hosts = stackHosts(port);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

function forward(req: IncomingMessage, res: ServerResponse, upstream: URL, agent: Agent, partitionKeys: PartitionKeys, record: (entry: LedgerEntry) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const op = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
    const raw = Buffer.concat(chunks);
    const input = CAPACITY_OPS.has(op) ? parse(raw) : undefined;
    // DynamoDB Local does not check signatures, so the body and host may change under the SDK's
    // (it answers only its own loopback Host).
    const body = input ? Buffer.from(JSON.stringify({ ...input, ReturnConsumedCapacity: 'TOTAL' })) : raw;
    const headers = { ...req.headers, host: upstream.host, 'content-length': String(body.length) };
    const out = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, agent }, (answer) => {
      const answered: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => answered.push(chunk));
      answer.on('end', () => {
        const output = Buffer.concat(answered);
        res.writeHead(answer.statusCode ?? 500, answer.headers);
        res.end(output);
        // Written before the client can read its answer, so a reader who has the answer finds the line.
        if (input) record(entryOf(fnOf(req), op, input, parse(output) ?? {}, answer.statusCode ?? 500, partitionKeys));
      });
    });
    out.on('error', (error) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`the DynamoDB ledger could not reach DynamoDB Local: ${error.message}`);
    });
    out.end(body);
  });
}

function parse(body: Buffer): Json | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `app/<id>` in the SDK's user agent, which AWS_SDK_UA_APP_ID sets (Powertools appends its own marks to it, after a `-`). */
function fnOf(req: IncomingMessage): string {
  const agents = `${String(req.headers['x-amz-user-agent'] ?? '')} ${req.headers['user-agent'] ?? ''}`;
  return /(?:^|\s)app\/([A-Za-z0-9]+)/.exec(agents)?.[1] ?? 'unknown';
}

export function entryOf(fn: string, op: string, input: Json, output: Json, status: number, partitionKeys: PartitionKeys = new Map()): LedgerEntry {
  const itemsWritten = writtenItems(op, input);
  const failed = status >= 400;
  const units = unitsOf(op, input, output, failed, itemsWritten);
  const type = output['__type'];
  const error = failed ? (typeof type === 'string' ? type.split('#').pop() : `HTTP ${status}`) : undefined;
  const access = accessOf(op, input, partitionKeys);
  return { fn, op, readUnits: units.read, writeUnits: units.write, itemsWritten, itemsRead: failed ? 0 : readItems(op, output), ...(error ? { error } : {}), access };
}

const TRANSACT_ACTIONS: Readonly<Record<string, string>> = { Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', ConditionCheck: 'ConditionCheckItem', Get: 'GetItem' };

function accessOf(op: string, input: Json, partitionKeys: PartitionKeys): Access[] {
  const keyOf = (table: string, item: unknown): string[] => {
    const name = partitionKeys.get(table);
    const value = name === undefined ? undefined : record(record(item)[name]);
    const key = value?.['S'] ?? value?.['N'];
    return typeof key === 'string' ? [key] : [];
  };
  const table = str(input['TableName']);
  if (op === 'Query' || op === 'Scan') {
    const index = typeof input['IndexName'] === 'string' ? input['IndexName'] : undefined;
    const leadingKeys = op === 'Query' ? queriedKey(input, partitionKeys.get(index ? `${table}/${index}` : table)) : [];
    return [{ action: op, table, ...(index ? { index } : {}), leadingKeys }];
  }
  if (op === 'BatchGetItem' || op === 'BatchWriteItem') {
    return Object.entries(record(input['RequestItems'])).map(([name, ask]) => {
      const items = op === 'BatchGetItem' ? list(record(ask)['Keys']) : list(ask).map((r) => record(r)['PutRequest'] ? record(record(r)['PutRequest'])['Item'] : record(record(r)['DeleteRequest'])['Key']);
      return { action: op, table: name, leadingKeys: items.flatMap((item) => keyOf(name, item)) };
    });
  }
  if (op === 'TransactWriteItems' || op === 'TransactGetItems') {
    return list(input['TransactItems']).flatMap((element) =>
      Object.entries(record(element)).map(([kind, part]) => {
        const name = str(record(part)['TableName']);
        return { action: TRANSACT_ACTIONS[kind] ?? kind, table: name, leadingKeys: keyOf(name, record(part)['Key'] ?? record(part)['Item']) };
      }),
    );
  }
  return [{ action: op, table, leadingKeys: keyOf(table, input['Key'] ?? input['Item']) }];
}

/** The partition key value a Query's key condition names (`pk = :v`, or through an attribute name alias). */
function queriedKey(input: Json, name: string | undefined): string[] {
  if (name === undefined) return [];
  const aliases = Object.entries(record(input['ExpressionAttributeNames'])).filter(([, value]) => value === name).map(([alias]) => alias);
  for (const attribute of [name, ...aliases]) {
    const placeholder = new RegExp(`(?:^|[\\s(])${attribute.replace(/[#.*+?^${}()|[\]\\]/g, '\\$&')}\\s*=\\s*(:[A-Za-z0-9_]+)`).exec(str(input['KeyConditionExpression']))?.[1];
    const value = placeholder === undefined ? undefined : record(record(input['ExpressionAttributeValues'])[placeholder]);
    const key = value?.['S'] ?? value?.['N'];
    if (typeof key === 'string') return [key];
  }
  return [];
}

const list = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);
const str = (value: unknown): string => (typeof value === 'string' ? value : '');

function unitsOf(op: string, input: Json, output: Json, failed: boolean, itemsWritten: number): { read: number; write: number } {
  if (op === 'TransactWriteItems') {
    const items = Array.isArray(input['TransactItems']) ? input['TransactItems'].map(record) : [];
    return { read: 0, write: items.reduce((sum: number, item) => sum + 2 * Math.max(1, Math.ceil(itemBytes(record(record(item['Put'])['Item'])) / 1024)), 0) };
  }
  if (failed) return { read: 0, write: itemsWritten };
  if (op === 'BatchGetItem') return { read: batchGetUnits(input, output), write: 0 };
  return consumed(output['ConsumedCapacity'], WRITE_OPS.has(op));
}

/** Each key asked for is a read of its own: its item's size rounded up to 4 KB, or one read when it has none; half as much when eventually consistent. */
function batchGetUnits(input: Json, output: Json): number {
  const responses = record(output['Responses']);
  let units = 0;
  for (const [table, ask] of Object.entries(record(input['RequestItems']))) {
    const keys = Array.isArray(record(ask)['Keys']) ? (record(ask)['Keys'] as unknown[]).length : 0;
    const found = Array.isArray(responses[table]) ? (responses[table] as unknown[]).map(record) : [];
    const factor = record(ask)['ConsistentRead'] === true ? 1 : 0.5;
    const foundUnits = found.reduce((sum: number, item) => sum + Math.max(1, Math.ceil(itemBytes(item) / 4096)), 0);
    units += factor * (foundUnits + Math.max(0, keys - found.length));
  }
  return units;
}

/** An item's size as DynamoDB counts it: each attribute's name and value (numbers about half their digits). */
export function itemBytes(item: Json): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + valueBytes(record(value)), 0);
}

function valueBytes(value: Json): number {
  const [type, v] = Object.entries(value)[0] ?? ['NULL', true];
  if (type === 'S') return Buffer.byteLength(String(v));
  if (type === 'N') return Math.ceil(String(v).replace(/^-|\.|e.*$/gi, '').length / 2) + 1;
  if (type === 'B') return Buffer.from(String(v), 'base64').length;
  if (type === 'SS' || type === 'NS' || type === 'BS') return (Array.isArray(v) ? (v as unknown[]) : []).reduce((sum: number, e) => sum + valueBytes({ [type.slice(0, 1)]: e }), 0);
  if (type === 'L') return 3 + (Array.isArray(v) ? (v as unknown[]) : []).reduce((sum: number, e) => sum + 1 + valueBytes(record(e)), 0);
  if (type === 'M') return 3 + Object.entries(record(v)).reduce((sum, [k, e]) => sum + 1 + Buffer.byteLength(k) + valueBytes(record(e)), 0);
  return 1;
}

function writtenItems(op: string, input: Json): number {
  if (op === 'PutItem' || op === 'UpdateItem' || op === 'DeleteItem') return 1;
  if (op === 'BatchWriteItem') return Object.values(record(input['RequestItems'])).reduce((sum: number, requests) => sum + (Array.isArray(requests) ? requests.length : 0), 0);
  if (op === 'TransactWriteItems') return Array.isArray(input['TransactItems']) ? input['TransactItems'].filter((item) => !('ConditionCheck' in record(item))).length : 0;
  return 0;
}

function readItems(op: string, output: Json): number {
  if (op === 'GetItem') return output['Item'] ? 1 : 0;
  if (op === 'Query' || op === 'Scan') return typeof output['Count'] === 'number' ? output['Count'] : 0;
  if (op === 'BatchGetItem') return Object.values(record(output['Responses'])).reduce((sum: number, items) => sum + (Array.isArray(items) ? items.length : 0), 0);
  if (op === 'TransactGetItems') return Array.isArray(output['Responses']) ? output['Responses'].filter((r) => record(r)['Item']).length : 0;
  return 0;
}

/** The units a `ConsumedCapacity` (one, or one per table) says were used, as reads or writes by the operation's kind. */
function consumed(capacity: unknown, write: boolean): { read: number; write: number } {
  const all = Array.isArray(capacity) ? capacity : capacity === undefined ? [] : [capacity];
  const units = all.reduce((sum: number, c) => sum + (typeof record(c)['CapacityUnits'] === 'number' ? (record(c)['CapacityUnits'] as number) : 0), 0);
  return write ? { read: 0, write: units } : { read: units, write: 0 };
}

const record = (value: unknown): Json => (isRecord(value) ? value : {});
