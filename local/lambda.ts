import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FunctionModel } from './template';

export class FunctionError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
    readonly functionStack?: string,
  ) {
    super(message);
    this.name = 'FunctionError';
  }
}

export type LogSink = (functionName: string, line: string) => void;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * One deployed function, emulated: its bundle from cdk.out runs in a worker
 * thread with its own environment, loaded once (a warm container) and invoked
 * with the timeout the template gives it.
 */
export class LocalFunction {
  private worker: Worker;
  private readonly pending = new Map<string, Pending>();
  invocations = 0;

  constructor(
    readonly model: FunctionModel,
    private readonly environment: Record<string, string>,
    private readonly log: LogSink,
  ) {
    this.worker = this.spawn();
  }

  get name(): string {
    return this.model.name;
  }

  invoke<T = unknown>(event: unknown): Promise<T> {
    this.invocations++;
    const id = randomUUID();
    const deadline = Date.now() + this.model.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new FunctionError('Sandbox.Timedout', `Task timed out after ${(this.model.timeoutMs / 1000).toFixed(2)} seconds`));
      }, this.model.timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.worker.postMessage({
        id,
        event,
        context: {
          functionName: this.model.name,
          functionVersion: '$LATEST',
          invokedFunctionArn: `arn:aws:lambda:${this.environment['AWS_REGION']}:000000000000:function:${this.model.name}`,
          memoryLimitInMB: String(this.model.memoryMb),
          awsRequestId: id,
          logGroupName: `/aws/lambda/${this.model.name}`,
          logStreamName: 'local',
          deadline,
        },
      });
    });
  }

  async stop(): Promise<void> {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new FunctionError('Shutdown', 'the local stack is stopping'));
      this.pending.delete(id);
    }
    await this.worker.terminate();
  }

  private spawn(): Worker {
    const worker = new Worker(path.join(__dirname, 'lambda-worker.js'), {
      env: this.environment,
      workerData: { bundleDir: this.model.bundleDir, handler: this.model.handler },
      stdout: true,
      stderr: true,
    });
    for (const stream of [worker.stdout, worker.stderr]) {
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) this.log(this.model.logicalId, line);
      });
    }
    worker.on('message', (message: { id: string; ok: boolean; result?: unknown; error?: { errorType: string; errorMessage: string; stack?: string } }) => {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.ok) pending.resolve(message.result);
      else pending.reject(new FunctionError(message.error?.errorType ?? 'Error', message.error?.errorMessage ?? 'unknown error', message.error?.stack));
    });
    worker.on('error', (error) => {
      // A crashed container: fail what it was running and start a fresh one, as Lambda would.
      this.log(this.model.logicalId, `container crashed: ${error.stack ?? error.message}`);
      for (const [id, pending] of this.pending) {
        clearTimeout(pending.timer);
        pending.reject(new FunctionError('Runtime.ExitError', error.message));
        this.pending.delete(id);
      }
      this.worker = this.spawn();
    });
    return worker;
  }
}
