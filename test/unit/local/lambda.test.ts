// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import pLimit from 'p-limit';
import { FunctionError, LocalFunction, workerExecArgv } from '../../../local/lambda';

/** Lambda's container model, with a bundle written here: one invocation per container at a time. */
const bundleDir = mkdtempSync(path.join(tmpdir(), 'updraft-fn-'));
writeFileSync(
  path.join(bundleDir, 'index.js'),
  `let running = 0; const container = Math.random();
   exports.handler = async (event, context) => {
     running++;
     const seenRunning = running;
     try {
       if (event.exit) process.exit(3);
       if (event.throw) throw new TypeError('bad input');
       await new Promise((r) => setTimeout(r, event.sleep ?? 0));
       return { seenRunning, container, env: process.env.ONLY_MINE, remaining: context.getRemainingTimeInMillis() };
     } finally { running--; }
   };`,
);
afterAll(() => rmSync(bundleDir, { recursive: true, force: true }));

const model = { logicalId: 'Fn', name: 'Stack-Fn', bundleDir, handler: 'index.handler', timeoutMs: 500, memoryMb: 128, environment: {} };
interface Result {
  seenRunning: number;
  container: number;
  env: string;
  remaining: number;
}

/** Invokes the test bundle and checks that it answered with a Result. */
async function invoke(fn: LocalFunction, event: object): Promise<Result> {
  const value = await fn.invoke(event);
  if (
    value !== null &&
    typeof value === 'object' &&
    'seenRunning' in value &&
    typeof value.seenRunning === 'number' &&
    'container' in value &&
    typeof value.container === 'number' &&
    'env' in value &&
    typeof value.env === 'string' &&
    'remaining' in value &&
    typeof value.remaining === 'number'
  ) {
    return { seenRunning: value.seenRunning, container: value.container, env: value.env, remaining: value.remaining };
  }
  throw new Error(`not a Result: ${JSON.stringify(value)}`);
}

describe('LocalFunction', () => {
  let fn: LocalFunction;
  beforeEach(() => {
    fn = new LocalFunction(model, { ONLY_MINE: 'yes', AWS_REGION: 'us-east-1' }, () => undefined, 2);
  });
  afterEach(() => fn.stop());

  it('runs one invocation per container, with at most the given number of containers', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => invoke(fn, { sleep: 30 })));

    expect(results.every((r) => r.seenRunning === 1)).toBe(true);
    expect(new Set(results.map((r) => r.container)).size).toBe(2);
    expect(results[0]).toMatchObject({ env: 'yes', remaining: expect.any(Number) });
  });

  it('reports a handler error with its type, and keeps the container', async () => {
    const first = await invoke(fn, {});
    await expect(fn.invoke({ throw: true })).rejects.toMatchObject({ errorType: 'TypeError', message: 'bad input' });
    expect((await invoke(fn, {})).container).toBe(first.container);
  });

  it('times out at the configured timeout, and replaces that container', async () => {
    const before = await invoke(fn, {});
    const error = await fn.invoke({ sleep: 2000 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(FunctionError);
    expect(error).toMatchObject({ errorType: 'Sandbox.Timedout', message: 'Task timed out after 0.50 seconds' });
    // The warm container ran the invocation that timed out; it is gone, and new ones serve.
    const after = await Promise.all([invoke(fn, {}), invoke(fn, {})]);
    expect(after.map((r) => r.container)).not.toContain(before.container);
  });

  it('survives a handler that exits its process', async () => {
    await expect(fn.invoke({ exit: true })).rejects.toMatchObject({ errorType: 'Runtime.ExitError' });
    await expect(invoke(fn, {})).resolves.toMatchObject({ env: 'yes' });
  });

  it('starts the timeout after init: a bundle slower to load than the timeout still runs its handler', async () => {
    const slowDir = mkdtempSync(path.join(tmpdir(), 'updraft-slow-fn-'));
    writeFileSync(
      path.join(slowDir, 'index.js'),
      `const until = Date.now() + 800; while (Date.now() < until) {} // a heavy bundle, longer to load than the 500 ms timeout
       exports.handler = async () => 'ran';`,
    );
    const slow = new LocalFunction({ ...model, bundleDir: slowDir }, { AWS_REGION: 'us-east-1' }, () => undefined, 1);
    try {
      await expect(slow.invoke({})).resolves.toBe('ran');
    } finally {
      await slow.stop();
      rmSync(slowDir, { recursive: true, force: true });
    }
  });
});

/** A bundle's load that spins until `marker` exists (at most 10 s): until its init limit has been reported, say. */
const loadUntil = (marker: string) => `const start = Date.now(); while (!require('node:fs').existsSync(${JSON.stringify(marker)}) && Date.now() < start + 10000) {}`;

/**
 * A bundle in a folder of its own whose load takes 300 ms and records when it began and ended,
 * and whose handler is `handler`; `spans()` reads those records back, in the order loads ended.
 */
function timedBundle(prefix: string, handler: string) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const loads = path.join(dir, 'loads');
  writeFileSync(
    path.join(dir, 'index.js'),
    `const start = Date.now(); while (Date.now() < start + 300) {}
     require('node:fs').appendFileSync(${JSON.stringify(loads)}, start + ',' + Date.now() + '\\n');
     ${handler}`,
  );
  const spans = () => readFileSync(loads, 'utf8').trim().split('\n').map((line) => line.split(',').map(Number));
  return { dir, spans };
}

describe('an init past its 10 seconds (scaled down here)', () => {
  /**
   * A function with a 500 ms timeout and an init limit of 100 ms, whose bundle takes `loadMs` to
   * load, or with 'past the limit' loads until the init limit has been reported and no longer:
   * its init then ends just after the limit however long the worker took to boot.
   */
  async function slowToLoad(load: number | 'past the limit', run: (fn: LocalFunction) => Promise<void>) {
    const dir = mkdtempSync(path.join(tmpdir(), 'updraft-slow-init-'));
    const passed = path.join(dir, 'limit-passed');
    const loading = load === 'past the limit' ? loadUntil(passed) : `const until = Date.now() + ${load}; while (Date.now() < until) {}`;
    writeFileSync(path.join(dir, 'index.js'), `${loading}\nexports.handler = async () => 'ran';`);
    const lines: string[] = [];
    const log = (_name: string, line: string) => {
      lines.push(line);
      if (line.includes('init did not finish')) writeFileSync(passed, '');
    };
    const fn = new LocalFunction({ ...model, bundleDir: dir }, { AWS_REGION: 'us-east-1' }, log, 1, 100);
    try {
      await run(fn);
      expect(lines).toContainEqual(expect.stringContaining('init did not finish within 0.1 seconds; it goes on within the next invocation'));
    } finally {
      await fn.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('is not a failure: it goes on within the invocation, as Lambda runs a suppressed init', async () => {
    // The init limit counts from the worker's creation, as Lambda's from the runtime's start: a
    // fixed load (400 ms, then 250) left the worker's boot too little of the 500 ms timeout on a
    // loaded machine, and failed beside other test runs.
    await slowToLoad('past the limit', async (fn) => {
      await expect(fn.invoke({})).resolves.toBe('ran');
    });
  });

  it('loads one container at a time: invocations that come meanwhile wait for it, then spread', async () => {
    const { dir, spans: loaded } = timedBundle(
      'updraft-one-init-',
      `const me = Math.random();
       exports.handler = async () => { await new Promise((r) => setTimeout(r, 400)); return me; };`,
    );
    const fn = new LocalFunction({ ...model, bundleDir: dir }, { AWS_REGION: 'us-east-1' }, () => undefined, 4);
    try {
      const ran = await Promise.all([fn.invoke({}), fn.invoke({}), fn.invoke({}), fn.invoke({})]);
      const spans = loaded();
      // More than one container served (the others started while the first ran its handler)...
      expect(new Set(ran).size).toBeGreaterThan(1);
      // ...and none began to load before the one before it had loaded.
      for (let i = 1; i < spans.length; i++) expect(spans[i]?.[0]).toBeGreaterThanOrEqual(spans[i - 1]?.[1] ?? Infinity);
    } finally {
      await fn.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("waits its turn among the stack's inits: two functions' bundles load one after the other", async () => {
    const { dir, spans } = timedBundle('updraft-init-turns-', `exports.handler = async () => 'ran';`);
    const oneAtATime = pLimit(1);
    const made = [1, 2].map((n) => new LocalFunction({ ...model, logicalId: `Fn${n}`, bundleDir: dir }, { AWS_REGION: 'us-east-1' }, () => undefined, 1, undefined, undefined, oneAtATime));
    try {
      await Promise.all(made.map((fn) => fn.warm));
      const [first, second] = spans();
      expect(second?.[0]).toBeGreaterThanOrEqual(first?.[1] ?? Infinity);
      await expect(Promise.all(made.map((fn) => fn.invoke({})))).resolves.toEqual(['ran', 'ran']);
    } finally {
      await Promise.all(made.map((fn) => fn.stop()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts its init limit from when its turn comes, not from while it waited', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'updraft-init-wait-'));
    const fast = path.join(dir, 'fast');
    const slow = path.join(dir, 'slow');
    const passed = path.join(dir, 'limit-passed');
    mkdirSync(fast);
    mkdirSync(slow);
    writeFileSync(path.join(fast, 'index.js'), `exports.handler = async () => 'ran';`);
    // Loads until its own init limit has been reported: the marker that the limit's time has passed.
    writeFileSync(path.join(slow, 'index.js'), `${loadUntil(passed)}\nexports.handler = async () => 'ran';`);
    const waitingLog: string[] = [];
    let turn!: () => void;
    const held = new Promise<void>((resolve) => (turn = resolve));
    const waiting = new LocalFunction({ ...model, bundleDir: fast }, { AWS_REGION: 'us-east-1' }, (_name, line) => waitingLog.push(line), 1, 300, undefined, (init) => held.then(init));
    // Made after the waiting one, with the same limit and a turn of its own at once.
    const clock = new LocalFunction({ ...model, bundleDir: slow }, { AWS_REGION: 'us-east-1' }, (_name, line) => line.includes('init did not finish') && writeFileSync(passed, ''), 1, 300, undefined, pLimit(1));
    try {
      await clock.warm;
      // Had its limit counted while it waited, its timer (made first, with the same limit) would have fired by now.
      expect(waitingLog).toEqual([]);
      turn();
      await expect(waiting.invoke({})).resolves.toBe('ran');
    } finally {
      await Promise.all([waiting.stop(), clock.stop()]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts against the invocation\'s timeout', async () => {
    await slowToLoad(1_000, async (fn) => {
      await expect(fn.invoke({})).rejects.toMatchObject({ errorType: 'Sandbox.Timedout', message: 'Task timed out after 0.50 seconds' });
    });
  });
});

describe('an injected crash (UPDRAFT_FAULTS fanout:crash)', () => {
  let fn: LocalFunction;
  let invocations = 0;
  beforeEach(() => {
    fn = new LocalFunction(model, { ONLY_MINE: 'yes', AWS_REGION: 'us-east-1' }, () => undefined, 2);
    invocations = 0;
    fn.onInvoked = () => invocations++;
  });
  afterEach(() => fn.stop());

  it('fails with Runtime.ExitError before the handler runs', async () => {
    fn.crashes = () => 'before';

    await expect(fn.invoke({})).rejects.toMatchObject({ errorType: 'Runtime.ExitError', message: expect.stringMatching(/before the handler ran \(injected/) });
    expect(invocations).toBe(0);
  });

  it('fails with Runtime.ExitError after the handler has run, its answer lost', async () => {
    fn.crashes = () => 'after';

    await expect(fn.invoke({})).rejects.toMatchObject({ errorType: 'Runtime.ExitError', message: expect.stringMatching(/after the handler ran \(injected/) });
    expect(invocations).toBe(1);
  });

  it('runs as usual when no crash is drawn', async () => {
    fn.crashes = () => undefined;

    expect(await invoke(fn, {})).toMatchObject({ env: 'yes' });
  });
});

describe("a container's Node options", () => {
  it("are those of the stack's that serve a function: no module loader, no V8 or process-wide option", () => {
    const given = ['--import', 'tsx', '--enable-source-maps', '--require=./x.js', '-r', 'y', '--max-old-space-size=512', '--expose-gc'];
    const profiling = ['--cpu-prof', '--cpu-prof-dir', '/tmp/profiles', '--heap-prof-interval=1024', '--inspect=0'];

    expect(workerExecArgv([...given, '--loader', 'z'])).toEqual(['--enable-source-maps']);
    expect(workerExecArgv(['--import=tsx', ...profiling])).toEqual(profiling);
  });

  it('reach the container, which starts with them', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'updraft-fn-'));
    writeFileSync(path.join(dir, 'index.js'), 'exports.handler = async () => ({ execArgv: process.execArgv });');
    const stackArgs = ['--import', 'a-loader-no-bundle-needs', '--max-old-space-size=512', '--enable-source-maps'];
    const fn = new LocalFunction({ ...model, bundleDir: dir }, {}, () => undefined, 1, undefined, workerExecArgv(stackArgs));
    try {
      expect(await fn.invoke({})).toEqual({ execArgv: ['--enable-source-maps'] });
    } finally {
      await fn.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
