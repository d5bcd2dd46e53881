import { SQSClient } from '@aws-sdk/client-sqs';
import { HttpServer } from '../../local/http';
import { LocalQueues, type DeadLetter, type LocalQueue } from '../../local/queues';
import { sqsApiRoute } from '../../local/sqs-api';
import type { QueueModel } from '../../local/template';
import { freePort } from './local-stack';

/**
 * The local stack's SQS on a port of its own, with the queues a test describes,
 * and the SDK's own client pointed at it, as the functions' clients are.
 */
export interface LocalSqs {
  readonly client: SQSClient;
  readonly queues: LocalQueues;
  /** Every message a queue gave up on, as the stack is told of it. */
  readonly deadLetters: { readonly message: DeadLetter; readonly from: string; readonly to: string }[];
  /** What the HTTP server logged: requests that failed with 500, which no test expects. */
  readonly serverErrors: string[];
  queue(logicalId: string): LocalQueue;
  close(): Promise<void>;
}

/** A queue as the template would describe it, FIFO unless told otherwise. */
export function queueModel(logicalId: string, overrides: Partial<QueueModel> = {}): QueueModel {
  const fifo = overrides.fifo ?? true;
  return {
    logicalId,
    name: `Test-${logicalId}${fifo ? '.fifo' : ''}`,
    fifo,
    contentBasedDeduplication: false,
    deduplicationScope: 'messageGroup',
    visibilityTimeoutMs: 30_000,
    delayMs: 0,
    maxMessageBytes: 262_144,
    ...overrides,
  };
}

export async function startLocalSqs(models: readonly QueueModel[]): Promise<LocalSqs> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadLetters: LocalSqs['deadLetters'] = [];
  const serverErrors: string[] = [];
  const queues = new LocalQueues(models, {
    region: 'us-east-1',
    baseUrl,
    onDeadLetter: (message, from, to) => deadLetters.push({ message, from: from.model.logicalId, to: to.model.logicalId }),
  });
  const server = new HttpServer({
    host: '127.0.0.1',
    port,
    browserRoutes: [],
    serviceRoutes: [sqsApiRoute(queues)],
    upgrades: { upgrade: (_req, socket) => Promise.resolve(void socket.destroy()) },
    log: (line) => serverErrors.push(line),
  });
  await server.listen();
  const client = new SQSClient({ endpoint: baseUrl, region: 'us-east-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'x' }, maxAttempts: 1 });
  return {
    client,
    queues,
    deadLetters,
    serverErrors,
    queue: (logicalId) => queues.get(logicalId),
    close: async () => {
      client.destroy();
      queues.close();
      await server.close();
    },
  };
}
