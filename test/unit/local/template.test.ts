// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { App } from 'aws-cdk-lib';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { UpdraftStack } from '../../../cdk/updraft-stack';
import { assertJava } from '../../../local/dynamodb';
import { resolve, type Resolver } from '../../../local/intrinsics';
import { loadApp, type AppModel } from '../../../local/template';

/** The local stack's model comes from the synthesized template and nowhere else. */
const outdir = mkdtempSync(path.join(tmpdir(), 'updraft-model-'));
let app: AppModel;

beforeAll(() => {
  // As the CLI does, ask for asset metadata; skip esbuild, since only the template is read here.
  const cdkApp = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [], 'aws:cdk:enable-asset-metadata': true } });
  new UpdraftStack(cdkApp, 'Updraft-dev');
  cdkApp.synth();
  app = loadApp(outdir);
});

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

function byPrefix<T extends { logicalId: string }>(items: Iterable<T>, prefix: string): T {
  const found = [...items].find((i) => i.logicalId.startsWith(prefix));
  if (!found) throw new Error(`nothing named ${prefix}* in the template`);
  return found;
}

describe('loadApp', () => {
  it('reads tables with their keys, indexes, stream and TTL', () => {
    const statuses = byPrefix(app.tables.values(), 'Statuses');
    const connections = byPrefix(app.tables.values(), 'Connections');

    expect(statuses).toMatchObject({ name: expect.stringMatching(/^Updraft-dev-Statuses/), streamViewType: 'NEW_IMAGE' });
    expect(statuses.definition).toMatchObject({ StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_IMAGE' }, BillingMode: 'PAY_PER_REQUEST' });
    expect(connections).toMatchObject({ ttlAttribute: 'expiresAt' });
    expect(connections.definition['GlobalSecondaryIndexes']).toEqual([expect.objectContaining({ IndexName: 'byUser' })]);
  });

  it('reads every route with its function, the authorizer on $connect, and which routes answer', () => {
    expect([...app.api.routes.keys()].sort()).toEqual(['$connect', '$default', '$disconnect', 'follow', 'following', 'history', 'ping', 'post', 'presence', 'subscribe', 'unfollow', 'unsubscribe']);
    expect(app.api).toMatchObject({ stageName: 'dev', routeSelectionExpression: '$request.body.action' });
    const connect = app.api.routes.get('$connect');
    expect(connect?.authorizer).toEqual({ functionId: expect.stringMatching(/^Authorizer/), identitySource: ['route.request.querystring.token'] });
    expect(connect?.twoWay).toBe(false);
    expect(app.api.routes.get('post')).toMatchObject({ functionId: expect.stringMatching(/^Post/), twoWay: true });
  });

  it('reads functions with their timeout and unresolved environment', () => {
    const fanOut = byPrefix(app.functions.values(), 'FanOut');
    expect(fanOut).toMatchObject({ handler: 'index.handler', timeoutMs: 60_000, memoryMb: 1024 });
    expect(fanOut.environment['CONNECTIONS_ENDPOINT']).toHaveProperty('Fn::Join');
  });

  it('reads the stream mapping in full', () => {
    expect(app.mappings).toEqual([
      expect.objectContaining({
        tableId: expect.stringMatching(/^Statuses/),
        functionId: expect.stringMatching(/^FanOut/),
        startingPosition: 'LATEST',
        batchSize: 100,
        batchingWindowMs: 0,
        bisectOnError: true,
        maxRetries: 5,
        maxRecordAgeMs: 3_600_000,
        reportBatchItemFailures: true,
        onFailureQueueId: expect.stringMatching(/^FanOutDlq/),
      }),
    ]);
    expect(app.mappings[0]?.filterPatterns[0]).toMatchObject({ eventName: ['INSERT'] });
  });
});

describe('resolve', () => {
  const resolver: Resolver = { ref: (id) => `ref(${id})`, getAtt: (id, attribute) => `${id}.${attribute}` };

  it('resolves the intrinsics CDK writes into environments and ARNs', () => {
    expect(resolve({ 'Fn::Join': ['', ['https://', { Ref: 'Api' }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/dev']] }, resolver, 'eu-west-1')).toBe(
      'https://ref(Api).execute-api.eu-west-1.amazonaws.com/dev',
    );
    expect(resolve({ 'Fn::GetAtt': ['Table', 'StreamArn'] }, resolver, 'r')).toBe('Table.StreamArn');
    expect(resolve({ 'Fn::Select': [1, { 'Fn::Split': ['/', 'a/b/c'] }] }, resolver, 'r')).toBe('b');
    expect(resolve({ 'Fn::Sub': 'arn:${AWS::Partition}:x:${AWS::Region}:${Thing.Arn}' }, resolver, 'r')).toBe('arn:aws:x:r:Thing.Arn');
    expect(() => resolve({ 'Fn::ImportValue': 'x' }, resolver, 'r')).toThrow(/unsupported intrinsic/);
  });
});

describe('assertJava', () => {
  it('says how to install Java when it is missing', () => {
    expect(() => assertJava({ PATH: '/nonexistent' })).toThrow(/needs Java.*apt-get install -y default-jre-headless/);
    expect(() => assertJava()).not.toThrow();
  });
});
