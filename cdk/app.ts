#!/usr/bin/env node
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { UpdraftStack } from './updraft-stack';

const app = new App();
const stage = (app.node.tryGetContext('stage') as string | undefined) ?? 'dev';
// `-c webApp=true` deploys the browser app (build it first: npm run build:web).
const webApp = String(app.node.tryGetContext('webApp') ?? 'false') === 'true';
new UpdraftStack(app, `Updraft-${stage}`, {
  stage,
  ...(webApp ? { webAppDir: path.resolve(__dirname, '..', 'clients', 'web', 'dist') } : {}),
  env: { account: process.env['CDK_DEFAULT_ACCOUNT'], region: process.env['CDK_DEFAULT_REGION'] },
});
