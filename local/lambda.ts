import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import pLimit from 'p-limit';
import type { CrashPoint } from './faults';
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

interface Invocation {
  readonly id: string;
  readonly event: unknown;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

interface Container {
  readonly worker: Worker;
  /** The bundle is loaded (Lambda's init phase is over). */
  ready: boolean;
  initTimer?: NodeJS.Timeout;
  /** Gives back the container's place among the inits under way (see InitSlots). */
  endInit?: () => void;
  /** Init outlasted its 10 seconds: it goes on as part of the next invocation, within that invocation's timeout. */
  initSuppressed?: boolean;
  current?: Invocation & { timer?: NodeJS.Timeout; deadline?: number };
}

type WorkerMessage =
  | { ready: true }
  | { ready?: undefined; id: string; ok: boolean; result?: unknown; error?: { errorType: string; errorMessage: string; stack?: string } };

/** As Lambda reports a runtime that exited mid-invocation; the mapping logs it and retries the batch. */
const injectedCrash = (point: CrashPoint) =>
  new FunctionError('Runtime.ExitError', `the runtime exited ${point} the handler ran (injected: UPDRAFT_FAULTS fanout:crash)`);

/**
 * Lambda gives a function's init phase 10 seconds of its own, apart from the invocation's timeout.
 * An init that takes longer is not a failure: Lambda runs it again at the first invocation, within
 * the function's timeout ("suppressed init"). Locally the init already under way goes on, and the
 * invocation's timeout counts from the 10-second mark or from when it was handed over, if later.
 */
const INIT_LIMIT_MS = 10_000;

/** Runs an init when one of a fixed number of places is free. */
export type InitSlots = <T>(init: () => Promise<T>) => Promise<T>;

/**
 * The first containers' inits, which the stack starts all together: one per core at a time. On
 * Lambda every container loads its bundle on hardware of its own; here the stack's 20 functions
 * load theirs on the same cores. Started all together, each took the time of all of them: 6 s on a
 * quiet 2-core machine, and past the 10 s init limit beside a second test run, where the first
 * handshake's authorizer then ran its suppressed init within its own timeout and answered HTTP 500. One per core, each init takes its own time,
 * and its 10 s count from when it starts. The stack still says `ready` within 10 s: a request to a
 * function whose init has not ended waits for it, as for a cold start, with no timeout until the
 * init's own 10 s have passed.
 */
const STACK_INITS: InitSlots = pLimit(Math.max(1, availableParallelism()));

/**
 * The Node options a container runs with: of the stack's own, those a worker takes that serve the
 * functions (source maps, and the profiler and inspector, per thread). A worker inherits them all
 * otherwise, and `--import tsx` in every container made the stack's start three times as costly,
 * though a bundle is plain JavaScript, as on Lambda. Given explicitly, a V8 or whole-process option
 * (`--max-old-space-size`, `--expose-gc`) would stop the worker from starting: those are dropped.
 */
export function workerExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] ?? '';
    if (!/^--(enable-source-maps$|(cpu|heap)-prof|inspect)/.test(arg)) continue;
    kept.push(arg);
    // The profilers' options that take a value may have it as the next argument.
    const next = execArgv[i + 1];
    if (/^--(cpu|heap)-prof-(dir|name|interval)$/.test(arg) && next !== undefined) {
      kept.push(next);
      i++;
    }
  }
  return kept;
}

/**
 * One deployed function, emulated as Lambda runs it: containers (worker
 * threads, each with the function's own environment and its bundle from
 * cdk.out, loaded once and then warm) that each run one invocation at a time.
 * Containers start on demand up to `maxContainers`; beyond that, invocations
 * wait their turn. A container whose invocation times out is thrown away, as
 * Lambda throws the sandbox away, and so is one that crashes.
 */
export class LocalFunction {
  private readonly containers = new Set<Container>();
  private readonly idle: Container[] = [];
  private readonly waiting: Invocation[] = [];
  private stopped = false;
  private initEnded?: () => void;
  /** Settles when the first container has ended its init phase, warm or not, or the init limit has passed since the function was made. */
  readonly warm: Promise<void>;

  constructor(
    readonly model: FunctionModel,
    private readonly environment: Record<string, string>,
    private readonly log: LogSink,
    readonly maxContainers = 4,
    private readonly initLimitMs = INIT_LIMIT_MS,
    /** The containers' Node options: by default, the stack's own that serve them (workerExecArgv). */
    private readonly execArgv = workerExecArgv(process.execArgv),
    /** Where its first container's init waits its turn: by default, the stack's, shared by every function. */
    initSlots: InitSlots = STACK_INITS,
  ) {
    this.warm = new Promise((resolve) => (this.initEnded = resolve));
    // The stack's start waits for no longer than the init limit, counted from now, though the init may
    // still be waiting its turn: a request that comes first waits for it, as for a cold start.
    setTimeout(() => this.initEnded?.(), this.initLimitMs).unref();
    // One warm container from the start, as if provisioned: the first request does not pay a cold start.
    // These inits, all the stack's at once, wait their turn (STACK_INITS); a container started later
    // for more concurrency loads at once, one per function at a time (initializing()).
    this.idle.push(this.start(initSlots));
  }

  get name(): string {
    return this.model.name;
  }

  /** Called whenever an invocation of this function has ended, however it ended. */
  onInvoked: () => void = () => undefined;

  /**
   * `UPDRAFT_FAULTS` fanout:crash, set on the functions an event source mapping invokes: whether
   * this invocation crashes, before its handler runs or after (its work done, its answer lost).
   */
  crashes?: () => CrashPoint | undefined;

  /** Runs the handler on `event`; what it returns is the function's to define, so the caller parses it. */
  invoke(event: unknown): Promise<unknown> {
    if (this.stopped) return Promise.reject(new FunctionError('Shutdown', 'the local stack is stopping'));
    const crash = this.crashes?.();
    if (crash === 'before') return Promise.reject(injectedCrash(crash));
    const ran = new Promise((resolve, reject) => {
      this.waiting.push({ id: randomUUID(), event, resolve, reject });
      this.dispatch();
    });
    void ran.then(this.onInvoked, this.onInvoked);
    return crash === 'after'
      ? ran.then(() => {
          throw injectedCrash(crash);
        })
      : ran;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const invocation of this.waiting.splice(0)) invocation.reject(new FunctionError('Shutdown', 'the local stack is stopping'));
    await Promise.all([...this.containers].map((container) => this.discard(container, new FunctionError('Shutdown', 'the local stack is stopping'))));
  }

  private dispatch(): void {
    for (let invocation = this.waiting[0]; invocation; invocation = this.waiting[0]) {
      const container = this.idle.pop() ?? (this.containers.size < this.maxContainers && !this.initializing() ? this.start() : undefined);
      if (!container) return;
      this.waiting.shift();
      this.run(container, invocation);
    }
  }

  /**
   * Whether a container of this function is still loading its bundle. Another is started only once
   * none is: Lambda would start them side by side, but here they share the machine's cores, and a
   * burst of requests to a cold function (every client reconnecting after a restart) would have
   * several inits compete for CPU, each slower than the one they wait for.
   */
  private initializing(): boolean {
    for (const container of this.containers) if (!container.ready) return true;
    return false;
  }

  private run(container: Container, invocation: Invocation): void {
    container.current = invocation;
    // The timeout counts from the end of init, as on Lambda: a slow bundle load does not eat the handler's time;
    // but an init past its limit goes on within the invocation's time.
    if (container.ready) this.send(container, invocation);
    else if (container.initSuppressed) this.arm(container, invocation);
  }

  /** Starts the invocation's timeout. */
  private arm(container: Container, invocation: Invocation): void {
    const deadline = Date.now() + this.model.timeoutMs;
    const timer = setTimeout(() => {
      void this.discard(container, new FunctionError('Sandbox.Timedout', `Task timed out after ${(this.model.timeoutMs / 1000).toFixed(2)} seconds`));
      this.dispatch();
    }, this.model.timeoutMs);
    container.current = { ...invocation, timer, deadline };
  }

  private send(container: Container, invocation: Invocation): void {
    if (container.current?.timer === undefined) this.arm(container, invocation);
    const deadline = container.current?.deadline ?? Date.now() + this.model.timeoutMs;
    container.worker.postMessage({
      id: invocation.id,
      event: invocation.event,
      context: {
        functionName: this.model.name,
        functionVersion: '$LATEST',
        invokedFunctionArn: `arn:aws:lambda:${this.environment['AWS_REGION']}:000000000000:function:${this.model.name}`,
        memoryLimitInMB: String(this.model.memoryMb),
        awsRequestId: invocation.id,
        logGroupName: `/aws/lambda/${this.model.name}`,
        logStreamName: 'local',
        deadline,
      },
    });
  }

  private finish(container: Container, message: WorkerMessage): void {
    if (message.ready) {
      container.ready = true;
      this.initEnded?.();
      clearTimeout(container.initTimer);
      container.endInit?.();
      if (container.current) this.send(container, container.current);
      // None is loading now: invocations that waited for this one may start containers of their own.
      this.dispatch();
      return;
    }
    const current = container.current;
    if (current?.id !== message.id) return;
    clearTimeout(current.timer);
    container.current = undefined;
    if (message.ok) current.resolve(message.result);
    else current.reject(new FunctionError(message.error?.errorType ?? 'Error', message.error?.errorMessage ?? 'unknown error', message.error?.stack));
    if (!this.stopped) {
      this.idle.push(container);
      this.dispatch();
    }
  }

  /** Ends a container, failing what it was running. */
  private async discard(container: Container, reason: Error): Promise<void> {
    if (!this.containers.delete(container)) return;
    this.initEnded?.();
    const index = this.idle.indexOf(container);
    if (index >= 0) this.idle.splice(index, 1);
    clearTimeout(container.initTimer);
    container.endInit?.();
    if (container.current) {
      clearTimeout(container.current.timer);
      container.current.reject(reason);
      container.current = undefined;
    }
    await container.worker.terminate();
  }

  /** A new container; its bundle loads when `slots` give it a turn, else at once. */
  private start(slots: InitSlots = (init) => init()): Container {
    const worker = new Worker(path.join(__dirname, 'lambda-worker.js'), {
      env: this.environment,
      execArgv: this.execArgv,
      workerData: { bundleDir: this.model.bundleDir, handler: this.model.handler },
      stdout: true,
      stderr: true,
    });
    const container: Container = { worker, ready: false };
    this.containers.add(container);
    // The bundle loads once the container's turn comes; the init limit counts from then.
    void slots(
      () =>
        new Promise<void>((endInit) => {
          if (!this.containers.has(container)) {
            endInit();
            return;
          }
          container.endInit = endInit;
          worker.postMessage({ init: true });
          container.initTimer = setTimeout(() => {
            this.log(this.model.logicalId, `init did not finish within ${this.initLimitMs / 1000} seconds; it goes on within the next invocation's timeout, as on Lambda`);
            container.initSuppressed = true;
            // The inits behind this one wait no longer for it.
            endInit();
            if (container.current) this.arm(container, container.current);
          }, this.initLimitMs);
        }),
    );
    for (const stream of [worker.stdout, worker.stderr]) {
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) this.log(this.model.logicalId, line);
      });
    }
    worker.on('message', (message: WorkerMessage) => this.finish(container, message));
    worker.on('error', (error) => {
      this.log(this.model.logicalId, `container crashed: ${error.stack ?? error.message}`);
      void this.discard(container, new FunctionError('Runtime.ExitError', error.message)).then(() => this.dispatch());
    });
    worker.on('exit', (code) => {
      if (!this.containers.has(container)) return;
      this.log(this.model.logicalId, `container exited with code ${code}`);
      void this.discard(container, new FunctionError('Runtime.ExitError', `the runtime exited with code ${code}`)).then(() => this.dispatch());
    });
    return container;
  }
}
