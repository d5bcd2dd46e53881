import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { documentClient } from '../shared/clients';
import { deliveryClient } from '../shared/fanout/clients';
import { config } from '../shared/config';
import { Pacer } from '../shared/fanout/pacer';
import { deliverSegments } from '../shared/fanout/worker';
import { logger } from '../shared/logger';
import { MetricName } from '../shared/metric-names';
import { MetricUnit, metrics } from '../shared/metrics';
import { ConnectionStore } from '../shared/store/connections';
import { SubscriptionStore } from '../shared/store/subscriptions';

const concurrency = config.deliveryConcurrency();
const db = documentClient();
const connections = new ConnectionStore(db, config.connectionsTable());
// Each worker's share of the stage's budget: the queue's event source runs at most
// deliveryWorkers of them at once, so together they never exceed it.
const pacer = new Pacer({ ratePerSecond: config.deliveryRps() / config.deliveryWorkers() });
let throttled = 0;
const deps = {
  connections,
  subscriptions: new SubscriptionStore(db, config.connectionsTable(), connections),
  // Every attempt is paced, retries included; every 429 is counted and slows this worker down.
  delivery: deliveryClient(concurrency, {
    take: () => pacer.take(),
    throttled: () => {
      throttled++;
      pacer.throttled();
    },
  }),
  concurrency,
  logger,
  // Loaded at the first subscriber whose token expired: most invocations never need the SDK's client.
  close: async (connectionId: string) => (await import('../shared/close-connection')).closeConnection(connectionId),
};

/**
 * A delivery worker: the leaves of the fan-out tree. Delivers the segments of large
 * channels that the stream consumer queued, and reports the messages to receive again.
 */
export const handler = async (event: SQSEvent, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<SQSBatchResponse> => {
  throttled = 0;
  const records = event.Records.map((record) => ({ messageId: record.messageId, groupId: record.attributes.MessageGroupId ?? '', body: record.body }));
  const { batchItemFailures, latencies, ...counts } = await deliverSegments(records, { ...deps, remainingMs: () => context.getRemainingTimeInMillis() });
  logger.info('delivery batch', { messages: event.Records.length, ...counts, throttled, rate: Math.round(pacer.currentRate), maxLatencyMs: Math.max(0, ...latencies) });
  metrics.addMetric(MetricName.deliveries, MetricUnit.Count, counts.delivered);
  metrics.addMetric(MetricName.gone, MetricUnit.Count, counts.gone);
  metrics.addMetric(MetricName.expiredConnections, MetricUnit.Count, counts.expired);
  metrics.addMetric(MetricName.deliveryFailures, MetricUnit.Count, counts.failed);
  metrics.addMetric(MetricName.deliveredSegments, MetricUnit.Count, counts.segments);
  metrics.addMetric(MetricName.throttledDeliveries, MetricUnit.Count, throttled);
  for (const latency of latencies) metrics.addMetric(MetricName.postToDeliveryLatency, MetricUnit.Milliseconds, latency);
  metrics.publishStoredMetrics();
  return { batchItemFailures };
};
