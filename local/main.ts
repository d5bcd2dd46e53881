#!/usr/bin/env node
/**
 * `npm start`: the whole of Updraft on one machine, from the synthesized
 * template. See README.md, "Run it locally".
 */
import * as path from 'node:path';

// The SDK warns about Node versions it will stop supporting; for the stack's own clients that is noise here.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
import { LocalStackError } from './errors';
import { Faults, parseFaults, parseSeed } from './faults';
import { AWS_LIMITS } from './gateway';
import { parseAllowedOrigins } from './request-guard';
import { startLocalStack, type RunningStack } from './stack';
import { synthIfStale } from './synth';
import { PhaseClock, Terminal } from './terminal';
import { buildWebIfStale, defaultWebDir } from './web';

const root = path.resolve(__dirname, '..');
const SWITCHES = ['--help', '--in-memory', '--no-synth', '--verbose'];
const args = new Set(process.argv.slice(2));
const USAGE = `usage: npm start [-- [--in-memory] [--no-synth] [--verbose]]

  --in-memory   keep nothing between runs (DynamoDB Local in memory, a fresh JWT secret)
  --no-synth    run cdk.out and the browser app as they are, even if the source changed
  --verbose     print everything the functions print (their JSON logs and EMF metric lines),
                not only one line per request and their warnings and errors

environment:
  UPDRAFT_PORT=3000            HTTP, WebSocket and Management API port
  UPDRAFT_DYNAMODB_PORT=8000   DynamoDB Local port
  UPDRAFT_DATA_DIR=.updraft    where data persists between runs
  UPDRAFT_CDK_OUT=cdk.out      the cloud assembly to run
  UPDRAFT_WEB_DIR=clients/web/dist  the built browser app served at /
  UPDRAFT_ALLOWED_ORIGINS=<origin>[,<origin>]  pages of these origins may open the WebSocket too
                               (the stack's own, http://127.0.0.1:<port> and http://localhost:<port>,
                               always may; clients that send no Origin are not pages)
  UPDRAFT_VERBOSE=1            the same as --verbose
  UPDRAFT_IDLE_TIMEOUT_MS, UPDRAFT_MAX_CONNECTION_MS   API Gateway's 10-minute idle and 2-hour limits
  UPDRAFT_TTL_SWEEP_MS=30000   how often expired rows are deleted
  UPDRAFT_STREAM_POLL_MS=50    how often an idle stream shard is polled
  UPDRAFT_FUNCTION_CONTAINERS=4  containers each function may run at once
  UPDRAFT_EVENT_LOG=<file>     append every event sent to a function to this file
  UPDRAFT_DYNAMODB_LEDGER=<file>  append what each of the functions' DynamoDB requests costs to this file
  UPDRAFT_FAULTS=key=value[,key=value]  inject faults (README.md, "Injecting faults"), e.g.
                               postToConnection:500=0.1,postToConnection:429=0.05,postToConnection:latency=5-300ms,
                               postToConnection:lost=0.01,fanout:crash=0.02,stream:duplicate=0.05,stream:reorder=0.05
  UPDRAFT_FAULTS_SEED=<n>      repeat a run's fault draws (the seed is printed at start)
  UPDRAFT_FUNCTION_ENV=NAME=value[,NAME=value]  replace the template's value of a variable in every
                               function that has it, for this run (e.g. FANOUT_DIRECT_MAX=8 sends
                               channels of more than 8 subscribers through the delivery queue)`;

if (args.has('--help')) {
  console.log(USAGE);
  process.exit(0);
}
const unknown = [...args].filter((arg) => !SWITCHES.includes(arg));
if (unknown.length > 0) {
  console.error(`unknown option ${unknown.join(' ')}\n\n${USAGE}`);
  process.exit(2);
}

/** `NAME=value,NAME=value`: variable names as the template writes them, values without commas. */
function environmentOverrides(): Record<string, string> {
  const overrides: Record<string, string> = {};
  for (const pair of (process.env['UPDRAFT_FUNCTION_ENV'] ?? '').split(',')) {
    if (pair.trim() === '') continue;
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(pair);
    if (!match?.[1] || match[2] === undefined) {
      console.error(`UPDRAFT_FUNCTION_ENV must be NAME=value pairs separated by commas, not ${JSON.stringify(pair)}`);
      process.exit(2);
    }
    overrides[match[1]] = match[2].trim();
  }
  return overrides;
}

function allowedOrigins(): string[] {
  try {
    return parseAllowedOrigins(process.env['UPDRAFT_ALLOWED_ORIGINS']);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(2);
  }
}

/** `UPDRAFT_FAULTS`: undefined when unset or empty, so that no fault hook runs at all. */
function faults(): Faults | undefined {
  try {
    const spec = parseFaults(process.env['UPDRAFT_FAULTS'] ?? '');
    const seed = parseSeed(process.env['UPDRAFT_FAULTS_SEED']);
    return Object.keys(spec).length === 0 ? undefined : new Faults(spec, seed);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(2);
  }
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

const terminal = new Terminal({ verbose: args.has('--verbose') || process.env['UPDRAFT_VERBOSE'] === '1' });
const { log } = terminal;

async function main(): Promise<void> {
  const phases = new PhaseClock(log);
  const stateDir = path.resolve(root, process.env['UPDRAFT_DATA_DIR'] ?? '.updraft');
  const assemblyDir = path.resolve(root, process.env['UPDRAFT_CDK_OUT'] ?? 'cdk.out');
  const inMemory = args.has('--in-memory');
  const webDir = path.resolve(root, process.env['UPDRAFT_WEB_DIR'] ?? defaultWebDir(root));
  const port = intEnv('UPDRAFT_PORT', 3000);
  const injected = faults();
  log(`Updraft local stack (${inMemory ? 'in memory' : `data in ${path.relative(root, stateDir) || '.'}`})`);
  phases.mark('node and tsx', 'the runtime and the TypeScript loader');
  if (args.has('--no-synth')) {
    phases.mark('synth', 'skipped (--no-synth)');
  } else {
    const relative = (dir: string) => path.relative(root, dir) || '.';
    phases.mark('synth', synthIfStale(root, assemblyDir, log) ? `${relative(assemblyDir)} (the source changed)` : `${relative(assemblyDir)} is up to date`);
    phases.mark('web build', (await buildWebIfStale(root, webDir, log)) ? `${relative(webDir)} (the source changed)` : `${relative(webDir)} is up to date`);
  }

  // Installed before anything starts, so that Ctrl-C during startup stops what has started (DynamoDB Local runs
  // in a process group of its own and would outlive this process otherwise).
  const startup = new AbortController();
  let stack: RunningStack | undefined;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const clients = stack?.connections() ?? 0;
    log(`${signal}: stopping${clients > 0 ? ` (closing ${clients} client connection${clients === 1 ? '' : 's'} first)` : ''}…`);
    const force = setTimeout(() => {
      log('still stopping after 15 s; exiting anyway');
      process.exit(1);
    }, 15_000);
    if (!stack) {
      // startLocalStack sees the abort at its next step, stops what it started, and rejects: main() exits then.
      startup.abort(new LocalStackError(`${signal} during startup`));
      return;
    }
    stack.stop().then(
      () => {
        clearTimeout(force);
        log('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log(`stop failed: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => {
    shutdown('SIGINT');
  });
  process.on('SIGTERM', () => {
    shutdown('SIGTERM');
  });

  try {
    stack = await startLocalStack({
      root,
      assemblyDir,
      port,
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
      ...(process.env['UPDRAFT_DYNAMODB_LEDGER'] ? { dynamoDbLedger: path.resolve(process.env['UPDRAFT_DYNAMODB_LEDGER']) } : {}),
      environmentOverrides: environmentOverrides(),
      ...(injected ? { faults: injected } : {}),
      webDir,
      allowedOrigins: allowedOrigins(),
      log,
      functionLog: terminal.functionOutput,
      onRequest: terminal.request,
      onBatch: terminal.batch,
      onPhase: (phase, detail) => {
        phases.mark(phase, detail);
      },
      signal: startup.signal,
    });
  } catch (error) {
    if (!startup.signal.aborted) throw error;
    log('stopped');
    process.exit(0);
  }

  const cli = port === 3000 ? 'npx updraft connect --user alice' : `npx updraft connect --user alice --url ${stack.httpUrl}`;
  log(`started ${stack.app.stackName} in ${phases.total()} (since the process started)

  browser:    ${stack.httpUrl}/   (sign in as anyone; a second window as someone else)
  CLI:        ${cli}
  dev token:  curl '${stack.httpUrl}/dev/token?user=alice'
  WebSocket:  ${rawClient(stack.httpUrl, stack.wsUrl)}
              (a raw client, run in the project folder: type JSON frames, e.g. {"action":"post","text":"hi"}; Ctrl-D ends it)
  ${terminal.verbose ? 'logs:       verbose: everything the functions print' : 'logs:       one line per request, and the functions\' warnings and errors; npm start -- --verbose for all'}
  stop:       Ctrl-C${injected ? `
  faults:     ON: ${injected.describe()} (seed ${injected.seed}); counts at curl ${stack.httpUrl}/dev/faults` : ''}
ready: ${stack.wsUrl}${injected ? ' (faults on)' : ''}`);
}

/** A raw WebSocket client to paste into a shell: a dev token for alice, then stdin lines out and frames in, with `ws`. */
function rawClient(httpUrl: string, wsUrl: string): string {
  const token = `$(curl -s '${httpUrl}/dev/token?user=alice' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')`;
  const script = 'const ws = new (require("ws"))(process.argv[1]); ws.on("message", (m) => console.log(String(m))); ws.on("open", () => require("readline").createInterface({ input: process.stdin }).on("line", (l) => ws.send(l)).on("close", () => ws.close()))';
  return `node -e '${script}' "${wsUrl}?token=${token}"`;
}

main().catch((error: unknown) => {
  console.error(error instanceof LocalStackError ? `updraft: ${error.message}` : error);
  process.exit(1);
});
