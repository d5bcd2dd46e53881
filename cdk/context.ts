import * as path from 'node:path';
import type { Node } from 'constructs';
import type { UpdraftStackProps } from './updraft-stack';

/**
 * The CDK context flags (`-c name=value` or cdk.json "context") the stack
 * reads; README "Context flags" lists them. Values given on the command line
 * arrive as strings, so booleans are read as "true"/"false".
 */
export function stackPropsFromContext(node: Node): UpdraftStackProps & { readonly stage: string; readonly nag: boolean } {
  const text = (name: string): string | undefined => {
    const value: unknown = node.tryGetContext(name);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new Error(`context ${name} must be a string`);
    return value;
  };
  const flag = (name: string, fallback: boolean): boolean => {
    const value: unknown = node.tryGetContext(name);
    if (value === undefined || value === null || value === '') return fallback;
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    throw new Error(`context ${name} must be true or false`);
  };
  const authMode = text('authMode');
  if (authMode !== undefined && authMode !== 'hs256' && authMode !== 'jwks') throw new Error('context authMode must be hs256 or jwks');
  const audience = text('jwtAudience')
    ?.split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  const jwksUrl = text('jwksUrl');
  const issuer = text('jwtIssuer');
  const cognitoUserPoolId = text('cognitoUserPoolId');
  const alarmEmail = text('alarmEmail');

  return {
    stage: text('stage') ?? 'dev',
    auth: {
      ...(authMode ? { mode: authMode } : {}),
      ...(jwksUrl ? { jwksUrl } : {}),
      ...(issuer ? { issuer } : {}),
      ...(audience ? { audience } : {}),
      ...(cognitoUserPoolId ? { cognitoUserPoolId } : {}),
      createUserPool: flag('createUserPool', false),
    },
    ...(alarmEmail ? { alarmEmail } : {}),
    tracing: flag('tracing', false),
    apiGatewayLogsRole: flag('apiGatewayLogsRole', true),
    // The browser app, built first with `npm run build:web`.
    ...(flag('webApp', false) ? { webAppDir: path.resolve(__dirname, '..', 'clients', 'web', 'dist') } : {}),
    nag: flag('nag', false),
  };
}
