#!/usr/bin/env node
/**
 * `npm start`: the whole of Updraft on this machine, from the synthesized
 * template. See README.md ("Run it locally") and ../shared/spec/LOCAL-STACK.md.
 */
import * as path from 'node:path';

// This machine's Node 20 is expected; the SDK's notice about Node 22 is noise here.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
import { LocalStackError } from './errors';
import { AWS_LIMITS } from './gateway';
import { startLocalStack, type RunningStack } from './stack';
import { synthIfStale } from './synth';
import { buildWebIfStale, defaultWebDir } from './web';

const root = path.resolve(__dirname, '..');
const args = new Set(process.argv.slice(2));

if (args.has('--help')) {
  console.log(`usage: npm start [-- --in-memory] [--no-synth]

  --in-memory   keep nothing between runs (DynamoDB Local in memory, a fresh JWT secret)
  --no-synth    run cdk.out and the browser app as they are, even if the source changed

environment:
  UPDRAFT_PORT=3000            HTTP, WebSocket and Management API port
  UPDRAFT_DYNAMODB_PORT=8000   DynamoDB Local port
  UPDRAFT_DATA_DIR=.updraft    where data persists between runs
  UPDRAFT_CDK_OUT=cdk.out      the cloud assembly to run
  UPDRAFT_WEB_DIR=clients/web/dist  the built browser app served at /
  UPDRAFT_IDLE_TIMEOUT_MS, UPDRAFT_MAX_CONNECTION_MS   API Gateway's 10-minute idle and 2-hour limits
  UPDRAFT_TTL_SWEEP_MS=30000   how often expired rows are deleted
  UPDRAFT_STREAM_POLL_MS=50    how often an idle stream shard is polled
  UPDRAFT_FUNCTION_CONTAINERS=4  containers each function may run at once
  UPDRAFT_EVENT_LOG=<file>     append every event sent to a function to this file`);
  process.exit(0);
}

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`${name} must be a whole number, not ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const log = (line: string) => console.log(line);

async function main(): Promise<void> {
  const stateDir = path.resolve(root, process.env['UPDRAFT_DATA_DIR'] ?? '.updraft');
  const assemblyDir = path.resolve(root, process.env['UPDRAFT_CDK_OUT'] ?? 'cdk.out');
  const inMemory = args.has('--in-memory');
  const webDir = path.resolve(root, process.env['UPDRAFT_WEB_DIR'] ?? defaultWebDir(root));
  if (!args.has('--no-synth')) {
    synthIfStale(root, assemblyDir, log);
    await buildWebIfStale(root, webDir, log);
  }

  const started = Date.now();
  const stack: RunningStack = await startLocalStack({
    root,
    assemblyDir,
    port: intEnv('UPDRAFT_PORT', 3000),
    dynamoDbPort: intEnv('UPDRAFT_DYNAMODB_PORT', 8000),
    ...(inMemory ? {} : { dataDir: path.join(stateDir, 'data') }),
    stateDir,
    region: process.env['AWS_REGION'] ?? 'us-east-1',
    limits: {
      ...AWS_LIMITS,
      idleTimeoutMs: intEnv('UPDRAFT_IDLE_TIMEOUT_MS', AWS_LIMITS.idleTimeoutMs),
      maxConnectionMs: intEnv('UPDRAFT_MAX_CONNECTION_MS', AWS_LIMITS.maxConnectionMs),
    },
    ttlSweepMs: intEnv('UPDRAFT_TTL_SWEEP_MS', 30_000),
    streamPollMs: intEnv('UPDRAFT_STREAM_POLL_MS', 50),
    functionContainers: Math.max(1, intEnv('UPDRAFT_FUNCTION_CONTAINERS', 4)),
    ...(process.env['UPDRAFT_EVENT_LOG'] ? { eventLog: path.resolve(process.env['UPDRAFT_EVENT_LOG']) } : {}),
    webDir,
    log,
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping…`);
    const force = setTimeout(() => {
      log('still stopping after 15 s; exiting anyway');
      process.exit(1);
    }, 15_000);
    stack.stop().then(
      () => {
        clearTimeout(force);
        log('stopped');
        process.exit(0);
      },
      (error: Error) => {
        log(`stop failed: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  log(`Updraft local stack (${stack.app.stackName}, ${inMemory ? 'in memory' : `data in ${path.relative(root, stateDir)}`}) started in ${Date.now() - started} ms`);
  log(`  open:     ${stack.httpUrl}/  (the browser app: sign in as anyone, a second window as someone else)`);
  log(`  token:    ${stack.httpUrl}/dev/token?user=alice`);
  log(`ready: ${stack.wsUrl}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof LocalStackError ? `updraft: ${error.message}` : error);
  process.exit(1);
});
