/**
 * The delivery worker containers, spread over worker threads: on AWS each worker has a
 * CPU of its own, and one event loop running them all would measure this process's one
 * core instead of the fan-out (it saturates near 8,000 deliveries a second). Container
 * `i` lives in thread `i % threads`; process.cpuUsage() still counts every thread.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { SQSBatchItemFailure } from 'aws-lambda';
import type { SegmentRecord } from '../../../shared/fanout/worker';
import { ContainerHost, type HostCounts, type HostOptions } from './containers';
import type { StoreSpec } from './subscribers';

type Request =
  | { readonly type: 'store'; readonly id: number; readonly spec: StoreSpec }
  | { readonly type: 'reset'; readonly id: number }
  | { readonly type: 'invoke'; readonly id: number; readonly worker: number; readonly records: readonly SegmentRecord[] }
  | { readonly type: 'collect'; readonly id: number }
  | { readonly type: 'destroy'; readonly id: number };

interface Reply {
  readonly id: number;
  readonly error?: string;
  readonly batchItemFailures?: SQSBatchItemFailure[];
  readonly counts?: HostCounts;
}

interface ThreadData {
  readonly options: HostOptions;
  readonly indices: readonly number[];
}

export class WorkerThreads {
  private readonly threads: Worker[];
  private readonly pending = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  private nextId = 0;

  constructor(options: HostOptions, threads: number) {
    const count = Math.max(1, Math.min(threads, options.workers));
    this.threads = Array.from({ length: count }, (_, t) => {
      const data: ThreadData = { options, indices: Array.from({ length: options.workers }, (_, i) => i).filter((i) => i % count === t) };
      // Worker threads do not inherit tsx's loader: the thread registers it before loading this file.
      const thread = new Worker(`require('tsx/cjs'); require(${JSON.stringify(__filename)});`, { eval: true, workerData: data });
      thread.on('message', (reply: Reply) => {
        const waiting = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        if (reply.error !== undefined) waiting?.reject(new Error(reply.error));
        else waiting?.resolve(reply);
      });
      thread.on('error', (error) => {
        for (const waiting of this.pending.values()) waiting.reject(error);
        this.pending.clear();
      });
      return thread;
    });
  }

  async invoke(worker: number, records: readonly SegmentRecord[]): Promise<{ batchItemFailures: SQSBatchItemFailure[] }> {
    const reply = await this.ask(this.threadOf(worker), { type: 'invoke', id: this.nextId++, worker, records });
    return { batchItemFailures: reply.batchItemFailures ?? [] };
  }

  async useStore(spec: StoreSpec): Promise<void> {
    await Promise.all(this.threads.map((thread) => this.ask(thread, { type: 'store', id: this.nextId++, spec })));
  }

  async reset(): Promise<void> {
    await Promise.all(this.threads.map((thread) => this.ask(thread, { type: 'reset', id: this.nextId++ })));
  }

  async collect(): Promise<HostCounts[]> {
    const replies = await Promise.all(this.threads.map((thread) => this.ask(thread, { type: 'collect', id: this.nextId++ })));
    return replies.flatMap((reply) => (reply.counts ? [reply.counts] : []));
  }

  async destroy(): Promise<void> {
    await Promise.all(this.threads.map((thread) => this.ask(thread, { type: 'destroy', id: this.nextId++ }).catch(() => undefined)));
    await Promise.all(this.threads.map((thread) => thread.terminate()));
  }

  private threadOf(worker: number): Worker {
    const thread = this.threads[worker % this.threads.length];
    if (!thread) throw new Error(`no thread for worker ${worker}`);
    return thread;
  }

  private ask(thread: Worker, request: Request): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject });
      thread.postMessage(request);
    });
  }
}

/** The thread's side: a ContainerHost answering the main thread's requests. */
function serve(data: ThreadData): void {
  const port = parentPort;
  if (!port) return;
  const host = new ContainerHost(data.options, data.indices);
  const answer = async (request: Request): Promise<Reply> => {
    switch (request.type) {
      case 'store':
        host.useStore(request.spec);
        return { id: request.id };
      case 'reset':
        host.reset();
        return { id: request.id };
      case 'invoke':
        return { id: request.id, ...(await host.invoke(request.worker, request.records)) };
      case 'collect':
        return { id: request.id, counts: host.collect() };
      case 'destroy':
        await host.destroy();
        return { id: request.id };
    }
  };
  port.on('message', (request: Request) => {
    answer(request).then(
      (reply) => port.postMessage(reply),
      (error: unknown) => port.postMessage({ id: request.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
}

if (!isMainThread) serve(workerData as ThreadData);
