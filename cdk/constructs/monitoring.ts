import { Duration, Stack } from 'aws-cdk-lib';
import type { IHttpApi, IWebSocketApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  type HorizontalAnnotation,
  Metric,
  TextWidget,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FanOutDefaults } from '../../shared/config';
import { METRICS_NAMESPACE, MetricName, metricDimensions } from '../../shared/metric-names';

/** The fan-out tree's queue and its workers (shared/fanout/segment-queue.ts, worker.ts). */
export interface DeliveryMonitoringProps {
  /** The FIFO queue of segments of large channels. */
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  /** The delivery worker, which the queue's event source invokes. */
  readonly worker: IFunction;
  /** The event source's maximum concurrency, drawn on the worker concurrency graph. */
  readonly maxWorkers: number;
  /**
   * Age of the oldest queued segment that raises an alarm; below half of
   * FanOutDefaults.queuedForMs (see DeliveryQueueAge).
   * @default Duration.minutes(5)
   */
  readonly queueAgeThreshold?: Duration;
  /** 429s from API Gateway, in % of delivery posts, that raise an alarm when they last 15 minutes. @default 1 */
  readonly throttledPercentThreshold?: number;
}

export interface MonitoringProps {
  readonly stage: string;
  readonly api: IWebSocketApi;
  /** Every function of the stack, by a short name used in widget legends and alarm names. */
  readonly functions: Readonly<Record<string, IFunction>>;
  /** The stream consumer: its iterator age says how far behind real time deliveries are. */
  readonly fanOut: IFunction;
  /** The authorizer: its Errors count refused tokens (that is how a 401 is made), so it is alarmed on AuthorizerFailures instead. */
  readonly authorizer: IFunction;
  readonly deadLetterQueue: IQueue;
  readonly delivery: DeliveryMonitoringProps;
  /** The publish API (HTTP API, IAM authorization): requests, errors and latency. */
  readonly publishApi: IHttpApi;
  /** Alarm notifications go to this address (a subscription to confirm by email). @default no subscription */
  readonly alarmEmail?: string;
  /** Fan-out lag that raises an alarm. @default Duration.minutes(1) */
  readonly iteratorAgeThreshold?: Duration;
}

/**
 * What an operator looks at in the AWS console: one dashboard, and alarms on
 * an SNS topic for what needs a person. README "Operations" says, per alarm,
 * what it means and what to do. No alarm fires on missing data: these metrics
 * are only emitted when there is traffic, and quiet is not a fault.
 */
export class Monitoring extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const fiveMinutes = Duration.minutes(5);

    this.topic = new Topic(this, 'AlarmTopic', { displayName: `Updraft ${props.stage} alarms`, enforceSSL: true });
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));

    const api = (metricName: string, statistic = 'Sum') =>
      new Metric({ namespace: 'AWS/ApiGateway', metricName, dimensionsMap: { ApiId: props.api.apiId, Stage: props.stage }, statistic, period: fiveMinutes });
    const custom = (metricName: string, statistic = 'Sum', label?: string) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: metricDimensions(props.stage),
        statistic,
        period: fiveMinutes,
        ...(label ? { label } : {}),
      });

    const deliveries = custom(MetricName.deliveries);
    const gone = custom(MetricName.gone);
    const failures = custom(MetricName.deliveryFailures);
    const goneRate = new MathExpression({
      expression: '100 * gone / MAX([attempts, 1])',
      usingMetrics: { gone, attempts: new MathExpression({ expression: 'd + g + f', usingMetrics: { d: deliveries, g: gone, f: failures } }) },
      label: 'Gone, % of delivery attempts',
      period: fiveMinutes,
    });
    const iteratorAge = props.fanOut.metric('IteratorAge', { statistic: 'Maximum', period: Duration.minutes(1) });
    const dlqDepth = props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(1) });
    const apiServerErrors = new MathExpression({
      expression: 'integration + execution',
      usingMetrics: { integration: api('IntegrationError'), execution: api('ExecutionError') },
      label: 'IntegrationError + ExecutionError',
      period: fiveMinutes,
    });
    const oneMinute = Duration.minutes(1);
    const deliveryQueue = props.delivery.queue;
    const queueVisible = deliveryQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: oneMinute, label: 'waiting' });
    const queueInFlight = deliveryQueue.metricApproximateNumberOfMessagesNotVisible({ statistic: 'Maximum', period: oneMinute, label: 'in flight' });
    const queueAge = deliveryQueue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: oneMinute, label: 'oldest segment, max' });
    const deliveryDlqDepth = props.delivery.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: oneMinute });
    const throttled = custom(MetricName.throttledDeliveries);
    const throttledPercent = new MathExpression({
      expression: '100 * throttled / MAX([throttled + delivered, 1])',
      usingMetrics: { throttled, delivered: deliveries },
      label: 'Throttled (429), % of posts',
      period: fiveMinutes,
    });
    const functions = Object.entries(props.functions);
    /** One metric per function, labelled with its short name. */
    const perFunction = (metric: (fn: IFunction) => IMetric) => functions.map(([name, fn]) => withLabel(metric(fn), name));

    // Alarms: each names what broke; README "Operations" has what to do.
    const alarm = (alarmId: string, description: string, metric: IMetric, threshold: number, evaluationPeriods = 1) => {
      const created = new Alarm(this, alarmId, {
        alarmName: `${stack.stackName}-${alarmId}`,
        alarmDescription: `${description} See README "Operations", ${alarmId}.`,
        metric,
        threshold,
        evaluationPeriods,
        datapointsToAlarm: evaluationPeriods,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(new SnsAction(this.topic));
      created.addOkAction(new SnsAction(this.topic));
      this.alarms.push(created);
      return created;
    };

    const threshold = props.iteratorAgeThreshold ?? Duration.minutes(1);
    alarm(
      'FanOutIteratorAge',
      `Fan-out is more than ${threshold.toHumanString()} behind the Statuses stream for 3 minutes: deliveries are late.`,
      iteratorAge,
      threshold.toMilliseconds(),
      3,
    );
    alarm('FanOutDlqNotEmpty', 'Fan-out gave up on stream records and put them in the DLQ: those statuses were not delivered live.', dlqDepth, 1);
    alarm('ApiServerErrors', 'API Gateway could not run a route or got an error from it (IntegrationError + ExecutionError).', apiServerErrors, 1);
    alarm(
      'AuthorizerFailures',
      'The authorizer could not check tokens at all (Secrets Manager or the JWKS endpoint failing): handshakes fail with 500.',
      custom(MetricName.authorizerFailures),
      1,
    );
    alarm(
      'DeliveryDlqNotEmpty',
      'Delivery workers failed a segment 5 times and it went to the delivery DLQ: some subscribers of a large channel missed a status.',
      deliveryDlqDepth,
      1,
    );
    // Order per subscriber holds while queued segments are delivered within half of
    // queuedForMs: the stream consumer renews a channel's mark to at least that far ahead of
    // each status it queues, and once the mark has expired a shrunken channel's next status
    // goes out directly, ahead of anything of the channel still on the queue. This alarm rings
    // before that bound (and whenever a failed segment waits out the visibility timeout).
    const ageThreshold = props.delivery.queueAgeThreshold ?? Duration.minutes(5);
    const orderBound = Duration.millis(FanOutDefaults.queuedForMs / 2);
    if (ageThreshold.toMilliseconds() >= orderBound.toMilliseconds()) {
      throw new Error(`the delivery queue age alarm must ring before ${orderBound.toHumanString()}, when order per subscriber may be lost`);
    }
    alarm(
      'DeliveryQueueAge',
      `A segment of a large channel has waited ${ageThreshold.toHumanString()} on the delivery queue: deliveries are late, and past ${orderBound.toHumanString()} a channel's statuses may arrive out of order.`,
      queueAge,
      ageThreshold.toSeconds(),
    );
    // The workers pace themselves within the stage's budget (deliveryRps), so a 429 means
    // the account's throttle, shared by every API of the account and region, is reached
    // anyway: other traffic, or a budget set too close to the throttle. The pacing backs
    // off at once; only throttling that lasts is worth a person.
    const throttledThreshold = props.delivery.throttledPercentThreshold ?? 1;
    alarm(
      'DeliveriesThrottled',
      `More than ${throttledThreshold}% of delivery posts were answered 429 by API Gateway for 15 minutes: the account's API Gateway throttle is reached.`,
      throttledPercent,
      throttledThreshold,
      3,
    );
    // The publish API's own handlers answer every protocol error as a 4xx: a 5xx is API Gateway failing to
    // reach them, or one of them failing (an `internal` answer or a crash).
    const publishServerErrors = props.publishApi.metricServerError({ period: fiveMinutes, statistic: 'Sum', label: '5xx' });
    alarm('PublishApiServerErrors', 'The publish API answered 5xx: a backend could not publish or read, and will retry.', publishServerErrors, 1);
    for (const [name, fn] of functions) {
      if (fn !== props.authorizer) {
        alarm(`${name}Errors`, `The ${name} function failed (crashed or timed out), not a protocol error answered to a client.`, fn.metricErrors({ period: fiveMinutes }), 1);
      }
      alarm(`${name}Throttles`, `The ${name} function was throttled: the account's or the function's concurrency is exhausted.`, fn.metricThrottles({ period: fiveMinutes }), 1);
    }

    const graph = (title: string, left: IMetric[], options: { right?: IMetric[]; width?: number; leftLabel?: string; leftAnnotations?: HorizontalAnnotation[] } = {}) =>
      new GraphWidget({
        title,
        left,
        ...(options.right ? { right: options.right } : {}),
        ...(options.leftAnnotations ? { leftAnnotations: options.leftAnnotations } : {}),
        width: options.width ?? 8,
        height: 6,
        ...(options.leftLabel ? { leftYAxis: { label: options.leftLabel, showUnits: false } } : {}),
      });

    this.dashboard = new Dashboard(this, 'Dashboard', { dashboardName: stack.stackName });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# Updraft ${props.stage}\nTraffic, fan-out and failures. Alarms and what to do about them: README, "Operations".`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      graph('Connections', [api('ConnectCount').with({ label: 'ConnectCount ($connect)' })]),
      graph('Messages in and out', [api('MessageCount').with({ label: 'MessageCount (API Gateway, both ways)' }), deliveries.with({ label: 'Deliveries (fan-out, out)' })]),
      graph('Posts and deliveries', [custom(MetricName.posts, 'Sum', 'Posts')], { right: [deliveries.with({ label: 'Deliveries' })] }),
    );
    this.dashboard.addWidgets(
      graph(
        'Post-to-delivery latency (ms, createdAt to last delivery)',
        ['p50', 'p90', 'p99', 'Maximum'].map((statistic) => custom(MetricName.postToDeliveryLatency, statistic, statistic)),
      ),
      graph('Gone and failed deliveries', [gone.with({ label: 'Gone (410)' }), failures.with({ label: 'DeliveryFailures' })], { right: [goneRate] }),
      graph('Fan-out iterator age (ms)', [iteratorAge.with({ label: 'IteratorAge, max' })]),
    );
    this.dashboard.addWidgets(
      graph('Delivery queue (segments)', [queueVisible, queueInFlight], { right: [deliveryDlqDepth.with({ label: 'in the delivery DLQ' })] }),
      graph('Delivery queue age (s)', [queueAge], { leftAnnotations: [{ value: ageThreshold.toSeconds(), label: 'DeliveryQueueAge alarm' }] }),
      graph('Segments queued and delivered', [custom(MetricName.queuedSegments, 'Sum', 'QueuedSegments (stream consumer)'), custom(MetricName.deliveredSegments, 'Sum', 'DeliveredSegments (workers)')]),
    );
    this.dashboard.addWidgets(
      graph('Deliveries and throttling', [deliveries.with({ label: 'Deliveries' }), throttled.with({ label: 'ThrottledDeliveries (429)' })], { right: [throttledPercent], width: 12 }),
      graph('Delivery workers at once', [props.delivery.worker.metric('ConcurrentExecutions', { statistic: 'Maximum', period: oneMinute, label: 'Deliver ConcurrentExecutions, max' })], {
        width: 12,
        leftAnnotations: [{ value: props.delivery.maxWorkers, label: 'maximum concurrency (deliveryWorkers)' }],
      }),
    );
    this.dashboard.addWidgets(
      graph('Fan-out DLQ depth', [dlqDepth.with({ label: 'messages visible' })]),
      graph('API Gateway errors', [api('IntegrationError'), api('ExecutionError'), api('ClientError')]),
      graph('Handshakes refused, connections ended', [
        custom(MetricName.authorizerFailures, 'Sum', 'AuthorizerFailures'),
        custom(MetricName.connectionsRefused, 'Sum', 'ConnectionsRefused (cap)'),
        custom(MetricName.connectsThrottled, 'Sum', 'ConnectsThrottled (connect budget)'),
        custom(MetricName.expiredConnections, 'Sum', 'ExpiredConnections'),
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        'Publish API requests',
        [props.publishApi.metricCount({ period: fiveMinutes, label: 'Count' }), props.publishApi.metricClientError({ period: fiveMinutes, statistic: 'Sum', label: '4xx (429 included)' }), publishServerErrors],
        { right: [custom(MetricName.published, 'Sum', 'Published (statuses stored)')] },
      ),
      graph(
        'Publish API latency (ms)',
        [
          ...['p50', 'p99'].map((statistic) => props.publishApi.metricLatency({ period: fiveMinutes, statistic, label: `Latency ${statistic}` })),
          props.publishApi.metricIntegrationLatency({ period: fiveMinutes, statistic: 'p99', label: 'IntegrationLatency p99' }),
        ],
      ),
      graph('Publish budget refusals', [custom(MetricName.publishRateLimited, 'Sum', 'PublishRateLimited (429)')]),
    );
    this.dashboard.addWidgets(
      graph('Lambda errors', perFunction((fn) => fn.metricErrors({ period: fiveMinutes }))),
      graph('Lambda throttles', perFunction((fn) => fn.metricThrottles({ period: fiveMinutes }))),
      graph('Lambda duration p99 (ms)', perFunction((fn) => fn.metricDuration({ statistic: 'p99', period: fiveMinutes }))),
    );
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 6 }));
  }
}

const withLabel = (metric: IMetric, label: string): IMetric => (metric instanceof Metric ? metric.with({ label }) : metric);
