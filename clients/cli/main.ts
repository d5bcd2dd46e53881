/**
 * `updraft`: Updraft from a terminal, on the same client library as the
 * browser app. Run `updraft --help`.
 */
import { createInterface } from 'node:readline';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { UpdraftError } from '../../shared/client';
import { ALL_OPTIONS, COMMANDS, OPTIONS, commandNamed, helpTable, commandOptions, parseCommandLine, synopsis, userId, type Session } from './commands';
import { bench } from './bench/command';
import { connect, credentials, messageOf } from './connection';
import { Exit, NoConnection, UsageError } from './errors';
import { output } from './output';
import { PublishApiClient, PublishApiError, publishTarget } from './publish';

export { Exit } from './errors';

/** The local stack's port when neither --url nor UPDRAFT_URL says where to go (README.md, "Run it locally"). */
const DEFAULT_PORT = '3000';

export function help(): string {
  const rows = COMMANDS.map((command) => [synopsis(command), command.help] as const);
  const options = ALL_OPTIONS.map((name) => {
    const option: { readonly arg?: string; readonly short?: string; readonly help: string } = OPTIONS[name];
    const flag = `${option.short === undefined ? '' : `-${option.short}, `}--${name}${option.arg === undefined ? '' : ` ${option.arg}`}`;
    return [flag, option.help] as const;
  });
  return [
    'usage: updraft <command> [options]',
    '',
    'commands:',
    ...helpTable(rows),
    '',
    'channels: user:<id>, thread:<status id>, inbox:<your id>',
    '',
    'options:',
    ...helpTable(options),
    '',
    'exit codes: 0 done, 1 the server refused the request, 2 usage error, 3 could not connect',
    '            (no Updraft stack at the address, or the token was refused)',
  ].join('\n');
}

/** An environment variable, where an empty value counts as unset (as a shell's `VAR= cmd` means). */
function variable(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

export async function main(
  argv: readonly string[],
  write: (line: string) => void = (line) => { console.log(line); },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const { options, positionals } = parseCommandLine(argv, ALL_OPTIONS);
  const [name, ...args] = positionals;
  if (options.help === true || name === undefined) {
    write(help());
    return options.help === true ? Exit.Ok : Exit.Usage;
  }
  // Everything that can be checked without the server is, before connecting: a usage error exits 2 whatever the network does.
  const command = commandNamed(name);
  if (command === undefined) throw new UsageError(`unknown command ${name}`);
  const given = commandOptions(command, options);
  if (command.via === 'bench') {
    // UPDRAFT_JWT_AUDIENCE, as scripts/token.ts reads it, only where tokens are signed here: with --secret-arn.
    const audience = given.audience ?? (given['secret-arn'] === undefined ? undefined : variable(env, 'UPDRAFT_JWT_AUDIENCE'));
    return bench({ args, options: given, audience, url: stackUrl(options, env), yes: options.yes === true, json: options.json === true, write });
  }
  if (command.via === 'publish-api') {
    const publish = command.prepare(args, given);
    const target = publishTarget({ ...(given['publish-url'] === undefined ? {} : { publishUrl: given['publish-url'] }), stackUrl: stackUrl(options, env) }, env, () => awsCredentialChain);
    return publish({ api: new PublishApiClient(target), out: output(options.json === true, write), lines: stdinLines, sleep });
  }
  const run = command.prepare(args, given);
  const user = typeof options.user === 'string' ? userId(options.user, '--user: ') : undefined;
  const token = typeof options.token === 'string' ? options.token : variable(env, 'UPDRAFT_TOKEN');
  const url = stackUrl(options, env);

  const out = output(options.json === true, write);
  const signIn = await credentials(url, user, token);
  const client = await connect(signIn, out);
  const session: Session = {
    client,
    out,
    user: signIn.user,
    interactive: false,
    history: (channel, page) => client.history(channel, page),
    feed: (page) => client.feed(page),
    live: (channel, status) => { out.status(channel, status); },
  };
  try {
    return await run(session);
  } finally {
    client.close();
  }
}

/** Where the stack is: --url, UPDRAFT_URL, or the local stack on UPDRAFT_PORT (3000 by default). */
function stackUrl(options: Readonly<Partial<Record<string, string | boolean>>>, env: NodeJS.ProcessEnv): string {
  const port = variable(env, 'UPDRAFT_PORT') ?? DEFAULT_PORT;
  if (!/^\d{1,5}$/.test(port)) throw new UsageError(`UPDRAFT_PORT=${port} is not a port number`);
  return typeof options['url'] === 'string' ? options['url'] : (variable(env, 'UPDRAFT_URL') ?? `http://127.0.0.1:${port}`);
}

/** Standard input, line by line, for `publish` with no text. */
async function* stdinLines(): AsyncIterable<string> {
  if (process.stdin.isTTY) throw new UsageError('publish what? give the text, or pipe one status per line into updraft publish');
  yield* createInterface({ input: process.stdin, crlfDelay: Infinity });
}

let chain: AwsCredentialIdentityProvider | undefined;
/**
 * The AWS SDK's default credential chain (environment, SSO, shared files, web identity, ECS, EC2
 * instance metadata), loaded at the first signature: the other commands never pay for it.
 */
const awsCredentialChain: AwsCredentialIdentityProvider = async (properties) => {
  chain ??= (await import('@aws-sdk/credential-provider-node')).defaultProvider();
  return chain(properties);
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function exitCodeOf(error: unknown): { code: number; message: string } {
  if (error instanceof UsageError) return { code: Exit.Usage, message: `updraft: ${error.message}\nTry updraft --help.` };
  if (error instanceof NoConnection) return { code: Exit.NoConnection, message: `updraft: could not connect: ${error.message}` };
  if (error instanceof PublishApiError) return { code: Exit.Refused, message: `updraft: ${error.code === undefined ? error.message : `${error.code}: ${error.message}`}` };
  if (error instanceof UpdraftError) return { code: error.code === 'timeout' ? Exit.NoConnection : Exit.Refused, message: `updraft: ${error.code}: ${error.message}` };
  return { code: Exit.Refused, message: `updraft: ${messageOf(error)}` };
}
