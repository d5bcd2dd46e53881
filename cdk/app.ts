#!/usr/bin/env node
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { stackPropsFromContext } from './context';
import { UpdraftStack } from './updraft-stack';

const app = new App();
const { nag, ...props } = stackPropsFromContext(app.node);
new UpdraftStack(app, `Updraft-${props.stage}`, {
  ...props,
  env: { account: process.env['CDK_DEFAULT_ACCOUNT'], region: process.env['CDK_DEFAULT_REGION'] },
});
// `-c nag=true`: the AwsSolutions rules report at synth, as test/cdk/nag.test.ts checks in CI.
if (nag) Aspects.of(app).add(new AwsSolutionsChecks());
