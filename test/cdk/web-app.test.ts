import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { WebApp } from '../../cdk/constructs/web-app';

/** The optional browser app deployment (`-c webApp=true`): private bucket, CloudFront, and the API's URL in config.json. */
const build = mkdtempSync(path.join(tmpdir(), 'updraft-web-build-'));
writeFileSync(path.join(build, 'index.html'), '<!doctype html><title>Updraft</title>');
afterAll(() => rmSync(build, { recursive: true, force: true }));

function synth(assetDir: string): Template {
  const stack = new Stack(new App(), 'WebAppTest');
  new WebApp(stack, 'WebApp', { assetDir, wsUrl: 'wss://abc123.execute-api.eu-west-1.amazonaws.com/dev' });
  return Template.fromStack(stack);
}

describe('WebApp', () => {
  const template = synth(build);

  it('keeps the bucket private, encrypted and TLS-only, reachable through CloudFront origin access control', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    template.resourceCountIs('AWS::CloudFront::OriginAccessControl', 1);
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: 'index.html',
        DefaultCacheBehavior: Match.objectLike({ ViewerProtocolPolicy: 'redirect-to-https' }),
      }),
    });
  });

  it('deploys the build and a config.json into the bucket, then invalidates the distribution', () => {
    template.hasResourceProperties('Custom::CDKBucketDeployment', {
      SourceObjectKeys: [Match.stringLikeRegexp('\\.zip$'), Match.stringLikeRegexp('\\.zip$')],
      DestinationBucketName: { Ref: Match.stringLikeRegexp('^WebAppBucket') },
      DistributionId: { Ref: Match.stringLikeRegexp('^WebAppDistribution') },
    });
    template.hasOutput('*', { Description: 'The browser app' });
  });

  it('refuses to synthesize without a build, and says how to make one', () => {
    expect(() => synth(path.join(build, 'missing'))).toThrow(/npm run build:web/);
  });
});
