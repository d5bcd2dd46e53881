import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { handler as Handler } from '../../../lambdas/fanout';
import { withEmf } from '../../support/emf';
import { aStatus, statusRecord } from '../../support/stream';
import { SubscriptionTable } from '../../support/subscription-table';

/**
 * The handler as Lambda loads it: its DynamoDB client mocked, its delivery client
 * pointed (through CONNECTIONS_ENDPOINT, read at load) at a local HTTP server that
 * answers as the Management API does.
 */
type DbStub = AwsClientStub<DynamoDBDocumentClient>;
type Lib = typeof import('@aws-sdk/lib-dynamodb');

let server: Server;
let endpoint: string;
/** The status the server answers for a connection id; 200 when absent. */
let answers: Record<string, number>;
let received: { connectionId: string; frame: unknown; authorization: string }[];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const connectionId = decodeURIComponent(req.url?.split('/@connections/')[1] ?? '');
      received.push({ connectionId, frame: JSON.parse(Buffer.concat(chunks).toString()), authorization: req.headers.authorization ?? '' });
      const status = answers[connectionId] ?? 200;
      res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '' : JSON.stringify({ message: `status ${status}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dev`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  answers = {};
  received = [];
});

/** Loads a fresh copy of the handler module, as a cold start does, with `prepare` mocking its DynamoDB client first. */
async function coldStart(prepare: (db: DbStub, lib: Lib) => void): Promise<typeof Handler> {
  const saved = process.env['CONNECTIONS_ENDPOINT'];
  process.env['CONNECTIONS_ENDPOINT'] = endpoint;
  let loaded: typeof Handler | undefined;
  try {
    await jest.isolateModulesAsync(async () => {
      const { mockClient } = await import('aws-sdk-client-mock');
      const lib = await import('@aws-sdk/lib-dynamodb');
      prepare(mockClient(lib.DynamoDBDocumentClient), lib);
      ({ handler: loaded } = await import('../../../lambdas/fanout'));
    });
  } finally {
    // Assigning undefined would store the string "undefined".
    if (saved === undefined) delete process.env['CONNECTIONS_ENDPOINT'];
    else process.env['CONNECTIONS_ENDPOINT'] = saved;
  }
  if (!loaded) throw new Error('the fan-out handler did not load');
  return loaded;
}

describe('fan-out handler', () => {
  it('delivers the batch and reports only the records it could not process', async () => {
    const status = aStatus();
    const failing = statusRecord('user:carol');
    const handler = await coldStart((db, lib) => {
      const table = new SubscriptionTable(db, lib).subscribe('user:bob', ['b1', 'b2']);
      table.failWhen = (query) => String(query.ExpressionAttributeValues?.[':pk']).startsWith('chan#user:carol#');
    });

    const response = await handler({ Records: [statusRecord('user:bob', status), failing] });

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: failing.dynamodb?.SequenceNumber }] });
    const frame = { type: 'status', channel: 'user:bob', status };
    expect(received.map(({ connectionId, frame: sent }) => ({ connectionId, sent })).sort((a, b) => a.connectionId.localeCompare(b.connectionId))).toEqual([
      { connectionId: 'b1', sent: frame },
      { connectionId: 'b2', sent: frame },
    ]);
  });

  it("signs its posts with the default chain's credentials, for the function's region", async () => {
    const handler = await coldStart((db, lib) => {
      new SubscriptionTable(db, lib).subscribe('user:bob', ['b1']);
    });

    await handler({ Records: [statusRecord('user:bob')] });

    // test/setup-env.ts sets AWS_ACCESS_KEY_ID=test and AWS_REGION=us-east-1, as Lambda sets the role's and the function's.
    expect(received.map((r) => r.authorization)).toEqual([expect.stringMatching(/^AWS4-HMAC-SHA256 Credential=test\/\d{8}\/us-east-1\/execute-api\/aws4_request, /)]);
  });
});

describe('fan-out metrics', () => {
  it('publishes deliveries, Gone, failures and one latency per delivered status, in one EMF line per invocation', async () => {
    const createdAt = new Date(Date.now() - 250).toISOString();
    const records = [
      statusRecord('user:bob', aStatus({ id: '01JD0000000000000000000011', createdAt })),
      statusRecord('user:dave', aStatus({ id: '01JD0000000000000000000012', createdAt })),
      statusRecord('user:nobody', aStatus({ id: '01JD0000000000000000000013', createdAt })),
    ];
    answers['gone1'] = 410;
    answers['broken1'] = 500;

    const { outcome, documents } = await withEmf(async () => {
      const handler = await coldStart((db, lib) => {
        new SubscriptionTable(db, lib).subscribe('user:bob', ['b1', 'gone1']).subscribe('user:dave', ['d1', 'broken1']);
        db.on(lib.GetCommand).resolves({});
        db.on(lib.BatchWriteCommand).resolves({});
      });
      return handler({ Records: records });
    });

    expect(outcome).toEqual({ status: 'fulfilled', value: { batchItemFailures: [] } });
    expect(documents).toHaveLength(1);
    const [emf] = documents;
    if (!emf) throw new Error('no EMF document');
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Updraft', Dimensions: [['service', 'stage']] });
    expect(emf).toMatchObject({ service: 'updraft', stage: 'test', Deliveries: 2, Gone: 1, DeliveryFailures: 1 });
    // Two statuses reached someone; the one on a channel nobody follows has no latency to report.
    const latencies = emf['PostToDeliveryLatency'] as number[];
    expect(latencies).toHaveLength(2);
    for (const latency of latencies) expect(latency).toBeGreaterThanOrEqual(250);
    expect(emf._aws.CloudWatchMetrics[0]?.Metrics).toContainEqual({ Name: 'PostToDeliveryLatency', Unit: 'Milliseconds' });
  });
});
