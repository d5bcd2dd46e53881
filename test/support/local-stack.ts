import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadApp } from '../../local/template';
import { TestClient } from './ws-client';

const ROOT = path.resolve(__dirname, '..', '..');
/**
 * Integration tests run their own synthesized assembly, apart from the cdk.out that `npm start` uses,
 * one per checkout: two clones (or git worktrees) testing at once must not synthesize into each other's.
 */
export const TEST_ASSEMBLY = path.join(tmpdir(), `updraft-test-cdk.out-${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}`);

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
  /** Clients opened through connect(), closed by stop(). */
  private readonly clients: TestClient[] = [];
  private exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly ports: { http: number; dynamodb: number },
    readonly wsUrl: string,
    /** A state folder of its own, removed at stop, when the test gave none. */
    private readonly ownStateDir?: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.ports.http}`;
  }

  static async start(options: StackOptions = {}): Promise<LocalStack> {
    const ports = options.ports ?? { http: await freePort(), dynamodb: await freePort() };
    // One process, as `npm start` runs it: signals reach the stack itself, which must stop what it started.
    const args = ['--import', 'tsx', path.join(ROOT, 'local', 'main.ts'), '--no-synth'];
    if (!options.dataDir) args.push('--in-memory');
    const ownStateDir = options.dataDir ? undefined : mkdtempSync(path.join(tmpdir(), 'updraft-stack-'));
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      detached: true, // its own process group, so a test that fails can still end everything it started
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        UPDRAFT_PORT: String(ports.http),
        UPDRAFT_DYNAMODB_PORT: String(ports.dynamodb),
        UPDRAFT_CDK_OUT: TEST_ASSEMBLY,
        UPDRAFT_DATA_DIR: options.dataDir ?? ownStateDir!,
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
      const stack = new LocalStack(child, ports, await ready, ownStateDir);
      child.stdout!.on('data', (chunk: Buffer) => (stack.output += chunk.toString()));
      stack.output = output;
      return stack;
    } catch (error) {
      killGroup(child, 'SIGKILL');
      if (ownStateDir) rmSync(ownStateDir, { recursive: true, force: true });
      throw error;
    }
  }

  async token(user: string): Promise<string> {
    const response = await fetch(`${this.httpUrl}/dev/token?user=${encodeURIComponent(user)}`);
    if (response.status !== 200) throw new Error(`dev token for ${user}: HTTP ${response.status}`);
    return ((await response.json()) as { token: string }).token;
  }

  async connect(user: string): Promise<TestClient> {
    const client = await TestClient.open(`${this.wsUrl}?token=${await this.token(user)}`);
    this.clients.push(client);
    return client;
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
   * Sends `signal` to the stack's process alone (SIGTERM, as Ctrl-C would) and
   * returns its exit code; the stack must end its children itself. Afterwards,
   * and after 20 s at the latest, whatever is left of the group is killed, so a
   * failing test leaves nothing behind; `leftovers()` before that tells.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', { sweep = true } = {}): Promise<number | null> {
    if (signal !== 'SIGKILL') await Promise.all(this.clients.map((client) => client.close().catch(() => undefined)));
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(signal);
      const timer = setTimeout(() => killGroup(this.child, 'SIGKILL'), 20_000);
      await this.exited;
      clearTimeout(timer);
    }
    if (sweep) this.sweep();
    return this.child.exitCode;
  }

  /** Kills anything left in the stack's process group and removes its own state folder. */
  sweep(): void {
    killGroup(this.child, 'SIGKILL');
    if (this.ownStateDir) rmSync(this.ownStateDir, { recursive: true, force: true });
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
