import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { documentClient, managementClient } from '../shared/clients';
import { config } from '../shared/config';
import { fanOut } from '../shared/fanout/engine';
import { logger } from '../shared/logger';
import { ConnectionStore } from '../shared/store/connections';

const concurrency = config.fanOutConcurrency();
const deps = {
  connections: new ConnectionStore(documentClient(), config.connectionsTable()),
  gateway: managementClient(config.connectionsEndpoint(), concurrency),
  concurrency,
  logger,
};

/** The stream's consumer: reports only the records it could not process at all. */
export const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
  const { batchItemFailures, latencies, ...counts } = await fanOut(event.Records, deps);
  logger.info('fan-out batch', { records: event.Records.length, ...counts, maxLatencyMs: Math.max(0, ...latencies) });
  return { batchItemFailures };
};
