#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { UpdraftStack } from './updraft-stack';

const app = new App();
const stage = (app.node.tryGetContext('stage') as string | undefined) ?? 'dev';
new UpdraftStack(app, `Updraft-${stage}`, {
  stage,
  env: { account: process.env['CDK_DEFAULT_ACCOUNT'], region: process.env['CDK_DEFAULT_REGION'] },
});
