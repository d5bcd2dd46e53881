import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { leftoverPid } from '../../local/dynamodb';
import { loadApp } from '../../local/template';
import { LOCAL_PUBLISH_PATH } from '../../shared/publish-api';
import { deniedRequests } from './iam-check';
import { readLedger } from './ledger';
import { TestClient } from './ws-client';

const ROOT = path.resolve(__dirname, '..', '..');
/**
 * Integration tests run their own synthesized assembly, apart from the cdk.out that `npm start` uses,
 * one per checkout: two clones (or git worktrees) testing at once would otherwise synthesize over
 * each other's template.
 */
export const TEST_ASSEMBLY = path.join(tmpdir(), `updraft-test-cdk.out-${createHash('sha256').update(ROOT).digest('hex').slice(0, 8)}`);
export const TEST_WEB_DIR = `${TEST_ASSEMBLY}-web`;

export interface StackOptions {
  /** Keep data here between starts; in memory when absent. */
  readonly dataDir?: string;
  readonly env?: Record<string, string>;
  /** Reuse these ports (a restart); fresh free ones otherwise. */
  readonly ports?: { http: number; dynamodb: number };
  /** `--verbose`: everything the functions print (their JSON logs and EMF metric lines) is in `output`. */
  readonly verbose?: boolean;
  /** Options for the stack's Node process, e.g. `--cpu-prof` (which NODE_OPTIONS may not carry). */
  readonly nodeArgs?: readonly string[];
  /**
   * Record the functions' DynamoDB requests (UPDRAFT_DYNAMODB_LEDGER) and have stop() fail if any is one
   * their IAM roles in the template would not allow on AWS. @default true under Jest, false in a benchmark
   */
  readonly checkIam?: boolean;
}

/**
 * `npm start` as a person runs it, as a child process on ports of its own,
 * so a test never collides with a stack someone has running.
 */
export class LocalStack {
  output = '';
  /** The ledger stop() checks against the template's IAM policies, and whether it is the stack's own to remove. */
  private iamCheck: { ledger: string; assembly: string; own: boolean } | undefined;
  /** Clients opened through connect(), closed by stop(). */
  private readonly clients: TestClient[] = [];
  private exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly ports: { http: number; dynamodb: number },
    readonly wsUrl: string,
    /** Where the stack keeps its state, DynamoDB Local's pid file included. */
    private readonly stateDir: string,
    /** Whether stateDir is the stack's own, removed at stop (the test gave none). */
    private readonly ownStateDir: boolean,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.ports.http}`;
  }

  /** The publish API, which the local stack serves on its port under LOCAL_PUBLISH_PATH. */
  get publishUrl(): string {
    return `${this.httpUrl}${LOCAL_PUBLISH_PATH}`;
  }

  /**
   * The stack's Node process and its DynamoDB Local, while they run: a benchmark reads their
   * memory and handles from /proc.
   */
  get pids(): { readonly stack: number | undefined; readonly dynamodb: number | undefined } {
    const running = this.child.exitCode === null && this.child.signalCode === null;
    return { stack: running ? this.child.pid : undefined, dynamodb: leftoverPid(this.stateDir, this.ports.dynamodb) };
  }

  static async start(options: StackOptions = {}): Promise<LocalStack> {
    const ports = options.ports ?? (await stackPorts());
    // One process, as `npm start` runs it: signals reach the stack itself, which must stop what it started.
    const args = [...(options.nodeArgs ?? []), '--import', 'tsx', path.join(ROOT, 'local', 'main.ts'), '--no-synth'];
    if (!options.dataDir) args.push('--in-memory');
    if (options.verbose) args.push('--verbose');
    const stateDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'updraft-stack-'));
    const ownStateDir = options.dataDir === undefined;
    const checkIam = options.checkIam ?? process.env['JEST_WORKER_ID'] !== undefined;
    const ledger = checkIam ? (options.env?.['UPDRAFT_DYNAMODB_LEDGER'] ?? path.join(mkdtempSync(path.join(tmpdir(), 'updraft-ledger-')), 'ledger.jsonl')) : undefined;
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      detached: true, // its own process group, so a test that fails can still end everything it started
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        UPDRAFT_PORT: String(ports.http),
        UPDRAFT_DYNAMODB_PORT: String(ports.dynamodb),
        UPDRAFT_CDK_OUT: TEST_ASSEMBLY,
        UPDRAFT_WEB_DIR: TEST_WEB_DIR,
        UPDRAFT_DATA_DIR: stateDir,
        ...(ledger ? { UPDRAFT_DYNAMODB_LEDGER: ledger } : {}),
        ...options.env,
      },
    });
    const sweep = () => sweepStack(child, stateDir, ports.dynamodb, ownStateDir);
    started.set(child, sweep);
    const { stdout, stderr } = child;
    let output = '';
    const ready = new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const url = /ready: (ws:\/\/\S+)/.exec(output)?.[1];
        if (url !== undefined) resolve(url);
      };
      stdout.on('data', onData);
      stderr.on('data', onData);
      child.once('exit', (code) => {
        reject(new Error(`the local stack exited with ${code ?? 'a signal'} before it was ready:\n${output}`));
      });
      setTimeout(() => {
        reject(new Error(`the local stack was not ready within 60 s:\n${output}`));
      }, 60_000).unref();
    });
    try {
      const stack = new LocalStack(child, ports, await ready, stateDir, ownStateDir);
      stack.output = output;
      if (ledger) stack.iamCheck = { ledger, assembly: options.env?.['UPDRAFT_CDK_OUT'] ?? TEST_ASSEMBLY, own: options.env?.['UPDRAFT_DYNAMODB_LEDGER'] === undefined };
      // Both streams, as a person sees them in the terminal.
      const append = (chunk: Buffer) => (stack.output += chunk.toString());
      stdout.on('data', append);
      stderr.on('data', append);
      return stack;
    } catch (error) {
      sweep();
      if (ledger && options.env?.['UPDRAFT_DYNAMODB_LEDGER'] === undefined) rmSync(path.dirname(ledger), { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * The stack's HS256 secret and the file that holds it: a stack started with a `dataDir` keeps it
   * there, which lets a test sign tokens of its own (short-lived, or forged in one respect).
   */
  jwtSecret(): { secret: string; file: string } {
    const dir = path.join(this.stateDir, 'data');
    const name = readdirSync(dir).find((file) => file.endsWith('.secret'));
    if (!name) throw new Error(`no secret file in ${dir}: start the stack with a dataDir`);
    const file = path.join(dir, name);
    return { secret: readFileSync(file, 'utf8').trim(), file };
  }

  async token(user: string): Promise<string> {
    const response = await fetch(`${this.httpUrl}/dev/token?user=${encodeURIComponent(user)}`);
    if (response.status !== 200) throw new Error(`dev token for ${user}: HTTP ${response.status}`);
    return ((await response.json()) as { token: string }).token;
  }

  async connect(user: string): Promise<TestClient> {
    const url = `${this.wsUrl}?token=${await this.token(user)}`;
    try {
      const client = await TestClient.open(url);
      this.clients.push(client);
      return client;
    } catch (error) {
      // A refused handshake's cause is in the stack's own log (a failing $connect prints its error
      // there). The error itself is kept: tests read its HTTP status.
      if (error instanceof Error) error.message += `\nthe stack's last output:\n${this.output.trimEnd().split('\n').slice(-30).join('\n')}`;
      throw error;
    }
  }

  /**
   * Closes every open connection of `user` from the server side, as an
   * operator (or API Gateway) would: DELETE on the Management API.
   * Returns how many were closed.
   */
  async disconnectUser(user: string): Promise<number> {
    const { Items = [] } = await this.documentClient().send(
      new QueryCommand({
        TableName: this.tableName('Connections'),
        IndexName: 'byUser',
        KeyConditionExpression: 'userId = :u',
        ExpressionAttributeValues: { ':u': user },
      }),
    );
    for (const item of Items) {
      const response = await fetch(`${this.wsUrl.replace(/^ws/, 'http')}/@connections/${encodeURIComponent(item['connectionId'] as string)}`, {
        method: 'DELETE',
      });
      if (response.status !== 204 && response.status !== 410) throw new Error(`DELETE connection: HTTP ${response.status}`);
    }
    return Items.length;
  }

  /** The stack's own DynamoDB Local, for checking what was stored. */
  documentClient(): DynamoDBDocumentClient {
    return DynamoDBDocumentClient.from(
      new DynamoDBClient({ endpoint: `http://127.0.0.1:${this.ports.dynamodb}`, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
    );
  }

  /** The local name of the table whose logical id starts with `prefix`, read from the template. */
  tableName(prefix: string): string {
    const table = [...loadApp(TEST_ASSEMBLY).tables.values()].find((t) => t.logicalId.startsWith(prefix));
    if (!table) throw new Error(`no table ${prefix}* in the template`);
    return table.name;
  }

  /**
   * Sends `signal` to the stack's process alone (SIGTERM, as a service
   * manager would) and returns its exit code; the stack must end its children
   * itself. Clients opened through connect() are closed first, unless
   * `interrupt` is set: then the signal goes to the whole process group with
   * the clients still connected, as Ctrl-C in a terminal does. Afterwards,
   * and after 20 s at the latest, whatever is left is killed, so a failing
   * test leaves nothing behind; `sweep: false` leaves that to the test.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', { sweep = true, interrupt = false } = {}): Promise<number | null> {
    if (signal !== 'SIGKILL' && !interrupt) await Promise.all(this.clients.map((client) => client.close().catch(() => undefined)));
    if (this.child.exitCode === null && this.child.signalCode === null) {
      if (interrupt) killGroup(this.child, signal);
      else this.child.kill(signal);
      const timer = setTimeout(() => {
        killGroup(this.child, 'SIGKILL');
      }, 20_000);
      await this.exited;
      clearTimeout(timer);
    }
    if (sweep) this.sweep();
    this.checkIam();
    return this.child.exitCode;
  }

  /** Fails when the functions made a DynamoDB request their roles would not allow on AWS (checkIam). */
  private checkIam(): void {
    const check = this.iamCheck;
    if (!check) return;
    this.iamCheck = undefined;
    const entries = existsSync(check.ledger) ? readLedger(check.ledger) : [];
    if (check.own) rmSync(path.dirname(check.ledger), { recursive: true, force: true });
    const denied = deniedRequests(entries, check.assembly);
    if (denied.length > 0) throw new Error(`the functions made DynamoDB requests their IAM roles would not allow on AWS:\n${denied.join('\n')}`);
  }

  /** Kills anything left of the stack (its process group and its DynamoDB Local) and removes its own state folder. */
  sweep(): void {
    sweepStack(this.child, this.stateDir, this.ports.dynamodb, this.ownStateDir);
  }
}

/**
 * DynamoDB Local runs in a process group of its own (so that Ctrl-C does not
 * stop it before the stack does): it is found through the stack's pid file.
 */
function sweepStack(child: ChildProcess, stateDir: string, dynamoDbPort: number, ownStateDir: boolean): void {
  started.delete(child);
  killGroup(child, 'SIGKILL');
  const pid = leftoverPid(stateDir, dynamoDbPort);
  if (pid !== undefined) process.kill(pid, 'SIGKILL');
  if (ownStateDir) rmSync(stateDir, { recursive: true, force: true });
}

/**
 * Every stack this process started and has not swept. A suite whose setup
 * timed out in Jest while a stack was still starting has no handle to stop it;
 * when the test process exits, whatever is left is killed, so nothing outlives
 * the test run.
 */
const started = new Map<ChildProcess, () => void>();
process.once('exit', () => {
  for (const sweep of started.values()) sweep();
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** An HTTP and a DynamoDB port for a stack of its own. */
async function stackPorts(): Promise<{ http: number; dynamodb: number }> {
  const [http = 0, dynamodb = 0] = await freePorts(2);
  return { http, dynamodb };
}

export async function freePort(): Promise<number> {
  const [port = 0] = await freePorts(1);
  return port;
}

/**
 * `count` ports free now, all different: each is held until all are found, since the kernel may
 * hand a port just closed out again (one stack once got the same port for its HTTP server and its
 * DynamoDB Local, and could not start).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
