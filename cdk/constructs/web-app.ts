import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Distribution, HeadersFrameOption, HeadersReferrerPolicy, HttpVersion, ResponseHeadersPolicy, ViewerProtocolPolicy, type IResponseHeadersPolicy } from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';

export interface WebAppProps {
  /** The built browser app (`npm run build:web` writes clients/web/dist). */
  readonly assetDir: string;
  /** The WebSocket URL the app connects to, written into its config.json at deploy time. */
  readonly wsUrl: string;
  /** The security headers CloudFront adds to every response (WebAppHeaders). */
  readonly headers: IResponseHeadersPolicy;
  /** The app's reconnect backoff ceiling, ms, written into its config.json (shared/client/backoff.ts `fleetBackoff`). */
  readonly reconnectMaxMs: number;
}

export interface WebAppHeadersProps {
  /** The WebSocket URL the app connects to: the one origin besides its own that the CSP lets it reach. */
  readonly wsUrl: string;
}

/**
 * The browser app's security headers, as a CloudFront response headers policy: a CSP that
 * allows only the app's own files (no inline script or style, no eval, no frames) and
 * connections to itself and the WebSocket API, HSTS, nosniff, no referrer, no framing.
 * The local stack serves the app with these same headers, read from the template
 * (local/web.ts), which is why the stack declares the policy with or without a web app.
 */
export class WebAppHeaders extends ResponseHeadersPolicy {
  constructor(scope: Construct, id: string, props: WebAppHeadersProps) {
    const csp = [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self'",
      // config.json (and, on the local stack, the dev token), then the WebSocket API.
      `connect-src 'self' ${props.wsUrl}`,
      "manifest-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; ');
    super(scope, id, {
      comment: 'Updraft browser app: CSP, HSTS, nosniff, no referrer, no framing',
      securityHeadersBehavior: {
        contentSecurityPolicy: { contentSecurityPolicy: csp, override: true },
        // Two years, the value HSTS preload lists ask for; the app is on HTTPS only.
        strictTransportSecurity: { accessControlMaxAge: Duration.days(730), includeSubdomains: true, override: true },
        contentTypeOptions: { override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
        // frame-ancestors 'none', for browsers that predate it.
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
      },
    });
  }
}

/**
 * The browser app on S3 behind CloudFront. The bucket is private (origin
 * access control) and holds only a build, so it goes with the stack. The app
 * reads config.json for the API's URL; a deployed stack hands out no dev
 * tokens, so people sign in with a token of their own.
 */
export class WebApp extends Construct {
  readonly distribution: Distribution;

  constructor(scope: Construct, id: string, props: WebAppProps) {
    super(scope, id);
    if (!existsSync(path.join(props.assetDir, 'index.html'))) {
      throw new Error(`the browser app is not built in ${props.assetDir}: run \`npm run build:web\` first, or deploy without -c webApp=true`);
    }
    // Access logs of the bucket and of CloudFront, kept 90 days. CloudFront's standard logs need ACLs.
    const logs = new Bucket(this, 'AccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.OBJECT_WRITER,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
    });
    NagSuppressions.addResourceSuppressions(logs, [
      { id: 'AwsSolutions-S1', reason: 'This is the access log bucket; logging its own accesses into itself would loop.' },
    ]);
    const bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      serverAccessLogsBucket: logs,
      serverAccessLogsPrefix: 'bucket/',
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
    });
    this.distribution = new Distribution(this, 'Distribution', {
      comment: 'Updraft browser app',
      enableLogging: true,
      logBucket: logs,
      logFilePrefix: 'cloudfront/',
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        responseHeadersPolicy: props.headers,
      },
      defaultRootObject: 'index.html',
      httpVersion: HttpVersion.HTTP2_AND_3,
    });
    NagSuppressions.addResourceSuppressions(this.distribution, [
      {
        id: 'AwsSolutions-CFR1',
        reason: 'The app is for anyone the identity provider lets in, wherever they are; restricting countries is a deployment choice.',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason:
          'The distribution serves static files only; the API it talks to is the WebSocket API, throttled per stage. ' +
          'WAF (from $5 a month) can be attached by a deployment that needs it.',
      },
      {
        id: 'AwsSolutions-CFR4',
        reason:
          'With the default *.cloudfront.net certificate CloudFront fixes the viewer security policy; a deployment with its own ' +
          'domain and certificate sets minimumProtocolVersion TLS_V1_2_2021.',
      },
    ]);
    new BucketDeployment(this, 'Deploy', {
      destinationBucket: bucket,
      sources: [Source.asset(props.assetDir), Source.jsonData('config.json', { wsUrl: props.wsUrl, devTokens: false, reconnectMaxMs: props.reconnectMaxMs })],
      distribution: this.distribution,
      memoryLimit: 512,
    });
    // The deployment's function is a singleton CDK owns and generates (its runtime, role and policy).
    const deployer = Stack.of(this).node.children.find((child) => child.node.id.startsWith('Custom::CDKBucketDeployment'));
    if (deployer) {
      NagSuppressions.addResourceSuppressions(
        deployer,
        [
          { id: 'AwsSolutions-L1', reason: 'The BucketDeployment function is CDK-managed; its runtime moves with aws-cdk-lib.' },
          { id: 'AwsSolutions-IAM4', reason: 'CDK gives its BucketDeployment function AWSLambdaBasicExecutionRole; it only writes its own logs.' },
          {
            id: 'AwsSolutions-IAM5',
            reason:
              'CDK grants the deployment function read on the staging asset bucket and write on this app bucket, by object ' +
              'prefix wildcards (and CloudFront invalidation on *, which has no resource-level permissions); nothing else.',
          },
        ],
        true,
      );
    }
    new CfnOutput(this, 'Url', { value: `https://${this.distribution.distributionDomainName}/`, description: 'The browser app' });
  }
}
