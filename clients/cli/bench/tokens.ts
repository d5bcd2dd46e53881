/**
 * Tokens for the run's users, from one of three places: the local stack's
 * dev endpoint, the deployed stack's hs256 secret (signed as the stack's own
 * shared/auth.ts signs them), or a command for another identity provider.
 */
import { execFile } from 'node:child_process';
import { signToken } from '../../../shared/auth';
import { NoConnection, UsageError } from '../errors';

export type TokenFor = (user: string) => Promise<string>;

export interface TokenSource {
  /** Where the WebSocket is. */
  readonly wsUrl: string;
  readonly tokenFor: TokenFor;
  readonly local: boolean;
}

/** How long a token lives: longer than any run, so none expires under it. */
const TOKEN_LIFETIME = '12h';

export interface TokenOptions {
  readonly secretArn?: string | undefined;
  readonly tokenCmd?: string | undefined;
  /** The `aud` of tokens signed with the secret: a stack deployed with `-c jwtAudience=…` refuses tokens without it. */
  readonly audience?: string | undefined;
}

export async function tokenSource(url: string, { secretArn, tokenCmd, audience }: TokenOptions, secrets: SecretReader = readSecret): Promise<TokenSource> {
  if (secretArn !== undefined && tokenCmd !== undefined) throw new UsageError('give --secret-arn or --token-cmd, not both');
  if (audience !== undefined && secretArn === undefined) throw new UsageError('--audience goes with --secret-arn: the tokens it signs carry it');
  if (audience === '') throw new UsageError("--audience is one of the stack's jwtAudience values, not empty");
  if (/^https?:\/\//.test(url)) {
    if (secretArn !== undefined || tokenCmd !== undefined) throw new UsageError('--secret-arn and --token-cmd are for a deployed stack: --url wss://…/<stage>');
    const { wsUrl } = await devToken(url, 'bench-probe');
    return { wsUrl, local: true, tokenFor: async (user) => (await devToken(url, user)).token };
  }
  if (!/^wss?:\/\//.test(url)) throw new UsageError(`--url ${url} is neither the local stack's http://… nor a WebSocket URL (wss://…/<stage>)`);
  if (secretArn !== undefined) {
    const secret = await secrets(secretArn);
    return { wsUrl: url, local: false, tokenFor: (user) => signToken(user, secret, TOKEN_LIFETIME, audience === undefined ? {} : { audience }) };
  }
  if (tokenCmd !== undefined) {
    if (!tokenCmd.includes('{user}')) throw new UsageError('--token-cmd must name the user as {user}, e.g. "./token.sh {user}"');
    return { wsUrl: url, local: false, tokenFor: (user) => fromCommand(tokenCmd, user) };
  }
  throw new UsageError('against a deployed stack, say where tokens come from: --secret-arn <arn> (hs256) or --token-cmd "<cmd> {user}"');
}

async function devToken(base: string, user: string): Promise<{ token: string; wsUrl: string }> {
  let response: Response;
  try {
    response = await fetch(new URL(`/dev/token?user=${encodeURIComponent(user)}`, base));
  } catch (error) {
    throw new NoConnection(`cannot reach the local stack at ${base} (is \`npm start\` running?): ${error instanceof Error ? error.message : String(error)}`);
  }
  const body = (await response.json().catch(() => undefined)) as { token?: unknown; wsUrl?: unknown } | undefined;
  if (response.status !== 200 || typeof body?.token !== 'string' || typeof body.wsUrl !== 'string') {
    throw new NoConnection(`no dev token from ${base}: HTTP ${response.status}`);
  }
  return { token: body.token, wsUrl: body.wsUrl };
}

/** Reads a secret's string by its ARN. */
export type SecretReader = (arn: string) => Promise<string>;

/** The stack's hs256 secret, read with the default AWS credential chain in the secret's own region. */
export async function readSecret(arn: string): Promise<string> {
  const region = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):/.exec(arn)?.[1];
  if (region === undefined) throw new UsageError('--secret-arn is an ARN: arn:aws:secretsmanager:<region>:<account>:secret:<name>');
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({ region });
  try {
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    if (SecretString === undefined || SecretString === '') throw new NoConnection(`the secret ${arn} holds no string`);
    return SecretString;
  } finally {
    client.destroy();
  }
}

/** Runs the command with the user id in place of {user} (ids are letters, digits, - and _: safe in a shell). */
function fromCommand(command: string, user: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command.replaceAll('{user}', user)], { timeout: 30_000 }, (error, stdout) => {
      const token = stdout.trim();
      if (error !== null) reject(new NoConnection(`--token-cmd failed for ${user}: ${error.message}`));
      else if (token === '') reject(new NoConnection(`--token-cmd printed no token for ${user}`));
      else resolve(token);
    });
  });
}
