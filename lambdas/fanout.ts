import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { documentClient } from '../shared/clients';
import { deliveryClient, sqsClient } from '../shared/fanout/clients';
import { config, FanOutDefaults } from '../shared/config';
import { fanOut } from '../shared/fanout/engine';
import { SqsSegmentQueue } from '../shared/fanout/segment-queue';
import { logger } from '../shared/logger';
import { MetricName } from '../shared/metric-names';
import { MetricUnit, metrics } from '../shared/metrics';
import { Connections } from '../shared/schema';
import { ConnectionStore } from '../shared/store/connections';
import { SubscriptionStore } from '../shared/store/subscriptions';

const concurrency = config.fanOutConcurrency();
const db = documentClient();
const connections = new ConnectionStore(db, config.connectionsTable());
const deps = {
  connections,
  subscriptions: new SubscriptionStore(db, config.connectionsTable(), connections),
  // Posts go through the lean client, not the SDK's: they are the one call made per delivery. Not
  // paced: direct deliveries are small channels' (at most directBudget per invocation), outside deliveryRps.
  delivery: deliveryClient(concurrency),
  queue: new SqsSegmentQueue(sqsClient(), config.deliveryQueueUrl()),
  plan: {
    directPerShard: Math.ceil(config.fanOutDirectMax() / Connections.rows.subscription.shards),
    groups: FanOutDefaults.groups,
    segmentSize: FanOutDefaults.segmentSize,
    maxSegments: FanOutDefaults.maxSegments,
    receiveBatch: FanOutDefaults.receiveBatch,
    queuedFor: FanOutDefaults.queuedForMs,
    directBudget: FanOutDefaults.directBudget,
  },
  concurrency,
  logger,
  // Loaded at the first subscriber whose token expired: most invocations never need the SDK's client.
  close: async (connectionId: string) => (await import('../shared/close-connection')).closeConnection(connectionId),
};

/**
 * The stream's consumer: delivers small channels, queues large ones for the delivery
 * workers, and reports only the records it could not process at all. Metrics are
 * counted by the engine as plain numbers and published here, in one EMF line per
 * invocation (a batch holds at most 100 records, so at most 100 latency values: one
 * EMF document's limit per metric).
 */
export const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
  const { batchItemFailures, latencies, ...counts } = await fanOut(event.Records, deps);
  logger.info('fan-out batch', { records: event.Records.length, ...counts, maxLatencyMs: Math.max(0, ...latencies) });
  metrics.addMetric(MetricName.deliveries, MetricUnit.Count, counts.delivered);
  metrics.addMetric(MetricName.gone, MetricUnit.Count, counts.gone);
  metrics.addMetric(MetricName.expiredConnections, MetricUnit.Count, counts.expired);
  metrics.addMetric(MetricName.deliveryFailures, MetricUnit.Count, counts.failed);
  metrics.addMetric(MetricName.queuedSegments, MetricUnit.Count, counts.segments);
  for (const latency of latencies) metrics.addMetric(MetricName.postToDeliveryLatency, MetricUnit.Milliseconds, latency);
  metrics.publishStoredMetrics();
  return { batchItemFailures };
};
