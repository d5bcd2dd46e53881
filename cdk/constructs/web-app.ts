import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { CfnOutput, RemovalPolicy } from 'aws-cdk-lib';
import { Distribution, HttpVersion, ViewerProtocolPolicy } from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { BlockPublicAccess, Bucket, BucketEncryption } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment';
import { Construct } from 'constructs';

export interface WebAppProps {
  /** The built browser app (`npm run build:web` writes clients/web/dist). */
  readonly assetDir: string;
  /** The WebSocket URL the app connects to, written into its config.json at deploy time. */
  readonly wsUrl: string;
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
    const bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
    });
    this.distribution = new Distribution(this, 'Distribution', {
      comment: 'Updraft browser app',
      defaultBehavior: { origin: S3BucketOrigin.withOriginAccessControl(bucket), viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS },
      defaultRootObject: 'index.html',
      httpVersion: HttpVersion.HTTP2_AND_3,
    });
    new BucketDeployment(this, 'Deploy', {
      destinationBucket: bucket,
      sources: [Source.asset(props.assetDir), Source.jsonData('config.json', { wsUrl: props.wsUrl, devTokens: false })],
      distribution: this.distribution,
      memoryLimit: 512,
    });
    new CfnOutput(this, 'Url', { value: `https://${this.distribution.distributionDomainName}/`, description: 'The browser app' });
  }
}
