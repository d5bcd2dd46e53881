import { App, Aspects } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { UpdraftStack, type UpdraftStackProps } from '../../cdk/updraft-stack';

/** A stand-in for `npm run build:web`'s output: the deployment needs only a folder with an index.html. */
const WEB_BUILD = mkdtempSync(path.join(tmpdir(), 'updraft-nag-web-'));
writeFileSync(path.join(WEB_BUILD, 'index.html'), '<!doctype html><title>Updraft</title>');

/**
 * The AwsSolutions pack over every shape the stack can take. A finding is
 * either fixed in the stack or acknowledged next to what it concerns, with the
 * reason; this test fails on any other.
 */
const configurations: [string, UpdraftStackProps][] = [
  ['hs256, dev (the default)', {}],
  ['hs256 with an audience, prod', { stage: 'prod', auth: { mode: 'hs256', audience: ['updraft'] } }],
  ['jwks, any OIDC issuer', { auth: { mode: 'jwks', jwksUrl: 'https://issuer.example.com/.well-known/jwks.json', issuer: 'https://issuer.example.com/', audience: ['updraft'] } }],
  ['jwks, an existing Cognito pool', { auth: { cognitoUserPoolId: 'eu-west-1_AbCdEf123', audience: ['1example23456789'] } }],
  [
    'jwks with a user pool it creates, tracing, alarm email, prod',
    { stage: 'prod', auth: { createUserPool: true }, tracing: true, alarmEmail: 'ops@example.com' },
  ],
  ['without the API Gateway logs role', { apiGatewayLogsRole: false }],
  ['with the browser app on S3 and CloudFront', { webAppDir: WEB_BUILD }],
  // As `cdk synth` builds it: app.ts passes CDK_DEFAULT_REGION (and the account, with credentials), so ARNs hold them literally.
  ['in a concrete region and account', { env: { region: 'eu-west-1', account: '123456789012' } }],
  ['with fan-out tree settings', { deliveryRps: 2000, deliveryWorkers: 2, deliveryConcurrency: 10, fanOutDirectMax: 100 }],
];

function findings(props: UpdraftStackProps, addToStack?: (stack: UpdraftStack) => void): string[] {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new UpdraftStack(app, 'Nag', props);
  addToStack?.(stack);
  Aspects.of(app).add(new AwsSolutionsChecks());
  return [
    ...Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*')),
    ...Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')),
  ].map((m) => `${m.id}: ${(typeof m.entry.data === 'string' ? m.entry.data : JSON.stringify(m.entry.data)).split('\n')[0] ?? ''}`);
}

describe('cdk-nag AwsSolutions', () => {
  it.each(configurations)('finds nothing unacknowledged: %s', (_, props) => {
    expect(findings(props)).toEqual([]);
  });

  it('is live: a resource added without its fixes is reported', () => {
    const found = findings({}, (stack) => new Queue(stack, 'CarelessQueue'));

    expect(found).toEqual(
      expect.arrayContaining([expect.stringMatching(/^\/Nag\/CarelessQueue\/Resource: AwsSolutions-SQS3/), expect.stringMatching(/AwsSolutions-SQS4/)]),
    );
  });
});
