import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { expect } from '@jest/globals';
import { WebApp, WebAppHeaders } from '../../cdk/constructs/web-app';
import { UpdraftStack } from '../../cdk/updraft-stack';
import { at, list, text } from '../support/template-json';

/** The optional browser app deployment (`-c webApp=true`): private bucket, CloudFront, and the API's URL in config.json. */
const build = mkdtempSync(path.join(tmpdir(), 'updraft-web-build-'));
writeFileSync(path.join(build, 'index.html'), '<!doctype html><title>Updraft</title>');
afterAll(() => rmSync(build, { recursive: true, force: true }));

const wsUrl = 'wss://abc123.execute-api.eu-west-1.amazonaws.com/dev';

function synth(assetDir: string): Template {
  const stack = new Stack(new App(), 'WebAppTest');
  const headers = new WebAppHeaders(stack, 'WebAppHeaders', { wsUrl });
  new WebApp(stack, 'WebApp', { assetDir, wsUrl, headers, reconnectMaxMs: 25_000 });
  return Template.fromStack(stack);
}

/** A value of the template as text, its references written `${Ref}`: enough to compare two joins. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const join: unknown = at(value, 'Fn::Join');
  if (Array.isArray(join)) return list(join[1]).map(render).join(text(join[0]));
  return `\${${text(at(value, 'Ref'))}}`;
}

/** The Content-Security-Policy header's directives, by name. */
function directives(csp: string): Record<string, string[]> {
  return Object.fromEntries(
    csp
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .map(([name = '', ...sources]) => [name, sources]),
  );
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

  it('sends a strict CSP, HSTS, nosniff, no referrer and no framing with every response of the distribution', () => {
    const policies = template.findResources('AWS::CloudFront::ResponseHeadersPolicy');
    const [id, policy] = Object.entries(policies)[0] ?? [];
    expect(Object.keys(policies)).toHaveLength(1);
    const security = at(policy, 'Properties', 'ResponseHeadersPolicyConfig', 'SecurityHeadersConfig');

    expect(security).toEqual({
      ContentSecurityPolicy: { ContentSecurityPolicy: expect.any(String), Override: true },
      StrictTransportSecurity: { AccessControlMaxAgeSec: 730 * 24 * 3600, IncludeSubdomains: true, Override: true },
      ContentTypeOptions: { Override: true },
      ReferrerPolicy: { ReferrerPolicy: 'no-referrer', Override: true },
      FrameOptions: { FrameOption: 'DENY', Override: true },
    });
    // No inline script or style, no eval, no plugin, no frame: the app's own files, and its API.
    expect(directives(text(at(security, 'ContentSecurityPolicy', 'ContentSecurityPolicy')))).toEqual({
      'default-src': ["'none'"],
      'script-src': ["'self'"],
      'style-src': ["'self'"],
      'img-src': ["'self'"],
      'connect-src': ["'self'", wsUrl],
      'manifest-src': ["'self'"],
      'base-uri': ["'none'"],
      'form-action': ["'none'"],
      'frame-ancestors': ["'none'"],
    });
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({ DefaultCacheBehavior: Match.objectLike({ ResponseHeadersPolicyId: { Ref: id } }) }),
    });
  });

  it("is declared by the stack with or without the web app, allowing connections to the stage's WebSocket URL", () => {
    const stack = new UpdraftStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Headers');
    const policies = Template.fromStack(stack).findResources('AWS::CloudFront::ResponseHeadersPolicy');
    expect(Object.keys(policies)).toHaveLength(1);
    const csp = at(Object.values(policies)[0], 'Properties', 'ResponseHeadersPolicyConfig', 'SecurityHeadersConfig', 'ContentSecurityPolicy', 'ContentSecurityPolicy');
    expect(directives(render(csp))['connect-src']).toEqual(["'self'", render(stack.resolve(stack.stage.url))]);
  });

  it('refuses to synthesize without a build, and says how to make one', () => {
    expect(() => synth(path.join(build, 'missing'))).toThrow(/npm run build:web/);
  });
});
