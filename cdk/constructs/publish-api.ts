import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination, type ThrottleSettings } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { ManagedPolicy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { PUBLISH_STAGE, PublishRoute, type PublishRouteKey } from '../../shared/publish-api';

export interface PublishApiProps {
  /** The stack's stage: in the API's name. */
  readonly stage: string;
  /** The function behind each route (shared/publish-api.ts PublishRoute). */
  readonly routes: Readonly<Record<PublishRouteKey, IFunction>>;
  /** The stage's throttling: every route and every caller together. */
  readonly throttle: ThrottleSettings;
  /** @default RetentionDays.ONE_MONTH */
  readonly accessLogRetention?: RetentionDays;
}

/**
 * The publish API: an API Gateway HTTP API whose every route takes IAM authorization (SigV4), so
 * that only principals allowed `execute-api:Invoke` on a route's ARN get past API Gateway. HTTP
 * API rather than REST: IAM authorization is all it needs, and it costs less and adds less latency;
 * what REST alone has (resource policies, API keys, request validation) is not used. Access from
 * another account is by assuming a role of this one, as HTTP APIs have no resource policy.
 *
 * It grants nothing to anyone. Two managed policies say what an integrator may attach to a
 * backend's role: `publishPolicy` (publish, read statuses and `user:`/`thread:` channels) and
 * `readInboxesPolicy` (read inboxes, a route of its own so that no wildcard over the others
 * reaches it).
 */
export class PublishApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  readonly publishPolicy: ManagedPolicy;
  readonly readInboxesPolicy: ManagedPolicy;

  constructor(scope: Construct, id: string, props: PublishApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, 'Api', {
      apiName: `updraft-${props.stage}-publish`,
      description: 'Updraft publish API: statuses from backends, signed with SigV4',
      createDefaultStage: false,
      defaultAuthorizer: new HttpIamAuthorizer(),
    });
    for (const [routeKey, fn] of Object.entries(props.routes)) {
      const [method, path] = routeKey.split(' ');
      if (method === undefined || path === undefined) throw new Error(`malformed route key ${routeKey}`);
      this.api.addRoutes({
        path,
        methods: [httpMethod(method)],
        // One integration per route, named after it (`GETstatusesid`): two routes may share a function.
        integration: new HttpLambdaIntegration(routeKey.replace(/[^A-Za-z]/g, ''), fn),
      });
    }

    this.accessLogs = new LogGroup(this, 'AccessLogs', { retention: props.accessLogRetention ?? RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    // HTTP APIs write access logs through a service-linked role: no account setting (CfnAccount) needed, unlike the WebSocket API.
    this.stage = new HttpStage(this, 'Stage', {
      httpApi: this.api,
      stageName: PUBLISH_STAGE,
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        // One JSON line per request: which principal called which route, and what came of it. No IP address is logged.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTimeEpoch: '$context.requestTimeEpoch',
            routeKey: '$context.routeKey',
            path: '$context.path',
            caller: '$context.identity.userArn',
            status: '$context.status',
            responseLength: '$context.responseLength',
            responseLatency: '$context.responseLatency',
            integrationLatency: '$context.integrationLatency',
            error: '$context.error.message',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });

    const invoke = (routes: readonly PublishRouteKey[]) =>
      new PolicyStatement({ actions: ['execute-api:Invoke'], resources: routes.map((route) => this.routeArn(route)) });
    this.publishPolicy = new ManagedPolicy(this, 'PublishPolicy', {
      description: `Updraft ${props.stage} publish API: publish statuses, read statuses and user:/thread: channels. Attach to a backend's role.`,
      statements: [invoke([PublishRoute.post, PublishRoute.status, PublishRoute.history])],
    });
    this.readInboxesPolicy = new ManagedPolicy(this, 'ReadInboxesPolicy', {
      description: `Updraft ${props.stage} publish API: read any user's inbox (notifications). Attach only to a backend that must.`,
      statements: [invoke([PublishRoute.inbox])],
    });
    for (const policy of [this.publishPolicy, this.readInboxesPolicy]) {
      NagSuppressions.addResourceSuppressions(policy, [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'A route ARN ends in its path, and a path parameter (a status id, a channel, a user) is any value: the wildcard stands ' +
            'for that one segment of one route of this API and stage, and for no other route or method.',
          appliesTo: [{ regex: '/^Resource::arn:<AWS::Partition>:execute-api:.*\\/\\$default\\/GET\\/(statuses|channels|inboxes)\\/\\*(\\/history)?$/' }],
        },
      ]);
    }
  }

  /** The ARN IAM checks for a route: a path parameter becomes `*`. */
  routeArn(route: PublishRouteKey): string {
    const [method, path] = route.split(' ');
    if (method === undefined || path === undefined) throw new Error(`malformed route key ${route}`);
    return Stack.of(this).formatArn({
      service: 'execute-api',
      resource: this.api.apiId,
      resourceName: `${PUBLISH_STAGE}/${method}${path.replace(/\{[^}]+\}/g, '*')}`,
    });
  }
}

function httpMethod(method: string): HttpMethod {
  if (method === 'GET') return HttpMethod.GET;
  if (method === 'POST') return HttpMethod.POST;
  throw new Error(`the publish API has no ${method} route`);
}
