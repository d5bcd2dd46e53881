import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadApp } from '../../local/template';
import { TestClient } from './ws-client';

const ROOT = path.resolve(__dirname, '..', '..');
/** Integration tests run their own synthesized assembly, apart from the cdk.out that `npm start` uses. */
export const TEST_ASSEMBLY = path.join(tmpdir(), 'updraft-test-cdk.out');

export interface StackOptions {
  /** Keep data here between starts; in memory when absent. */
  readonly dataDir?: string;
  readonly env?: Record<string, string>;
  /** Reuse these ports (a restart); fresh free ones otherwise. */
  readonly ports?: { http: number; dynamodb: number };
}

/**
 * `npm start` as a person runs it, as a child process on ports of its own,
 * so a test never collides with a stack someone has running.
 */
export class LocalStack {
  output = '';
  private exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly ports: { http: number; dynamodb: number },
    readonly wsUrl: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.ports.http}`;
  }

  static async start(options: StackOptions = {}): Promise<LocalStack> {
    const ports = options.ports ?? { http: await freePort(), dynamodb: await freePort() };
    const args = [path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(ROOT, 'local', 'main.ts'), '--no-synth'];
    if (!options.dataDir) args.push('--in-memory');
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      detached: true, // its own process group, so stop() can end DynamoDB Local with it whatever happens
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        UPDRAFT_PORT: String(ports.http),
        UPDRAFT_DYNAMODB_PORT: String(ports.dynamodb),
        UPDRAFT_CDK_OUT: TEST_ASSEMBLY,
        ...(options.dataDir ? { UPDRAFT_DATA_DIR: options.dataDir } : {}),
        ...options.env,
      },
    });
    let output = '';
    const ready = new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const match = /ready: (ws:\/\/\S+)/.exec(output);
        if (match) resolve(match[1]!);
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`the local stack exited with ${code} before it was ready:\n${output}`)));
      setTimeout(() => reject(new Error(`the local stack was not ready within 60 s:\n${output}`)), 60_000).unref();
    });
    try {
      const stack = new LocalStack(child, ports, await ready);
      child.stdout!.on('data', (chunk: Buffer) => (stack.output += chunk.toString()));
      stack.output = output;
      return stack;
    } catch (error) {
      killGroup(child, 'SIGKILL');
      throw error;
    }
  }

  async token(user: string): Promise<string> {
    const response = await fetch(`${this.httpUrl}/dev/token?user=${encodeURIComponent(user)}`);
    if (response.status !== 200) throw new Error(`dev token for ${user}: HTTP ${response.status}`);
    return ((await response.json()) as { token: string }).token;
  }

  async connect(user: string): Promise<TestClient> {
    return TestClient.open(`${this.wsUrl}?token=${await this.token(user)}`);
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

  /** SIGTERM, as Ctrl-C would; returns the exit code. Anything left after 20 s is killed. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    killGroup(this.child, signal);
    const timer = setTimeout(() => killGroup(this.child, 'SIGKILL'), 20_000);
    const code = await this.exited;
    clearTimeout(timer);
    // The group leader is gone; make sure nothing it started outlives it.
    killGroup(this.child, 'SIGKILL');
    return code;
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
