import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { config } from './config';
import { METRICS_NAMESPACE, METRICS_SERVICE } from './metric-names';

/**
 * Powertools Metrics: EMF lines on stdout that CloudWatch turns into metrics,
 * with no API call in the request path. `POWERTOOLS_METRICS_DISABLED=true`
 * turns them off (the unit tests do).
 */
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE, defaultDimensions: { stage: config.stage() } });

/** One metric, published at once in an EMF line of its own: for handlers that count one thing per invocation. */
export function countOne(name: string): void {
  metrics.singleMetric().addMetric(name, MetricUnit.Count, 1);
}

export { MetricUnit };
