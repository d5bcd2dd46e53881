'use strict';
// Runs one function's bundle from cdk.out inside a worker thread, with the
// environment the template gives it (set by the parent through the worker's
// `env` option, so each function sees only its own variables).
const { parentPort, workerData } = require('node:worker_threads');
const path = require('node:path');

process.setSourceMapsEnabled?.(true);

const { bundleDir, handler } = workerData;
const dot = handler.lastIndexOf('.');
let loaded;
function load() {
  if (!loaded) {
    loaded = Promise.resolve().then(() => {
      const mod = require(path.join(bundleDir, handler.slice(0, dot)));
      const fn = mod[handler.slice(dot + 1)];
      if (typeof fn !== 'function') throw new Error(`${handler} is not a function in ${bundleDir}`);
      return fn;
    });
  }
  return loaded;
}

parentPort.on('message', async (message) => {
  // Load the bundle when the stack gives the word (its turn among the inits), as Lambda's init phase
  // does, and say when init is over (the invocation's timeout starts then); an error surfaces at the
  // first invocation.
  if (message.init) {
    load()
      .catch(() => undefined)
      .then(() => parentPort.postMessage({ ready: true }));
    return;
  }
  const { id, event, context } = message;
  const deadline = context.deadline;
  const lambdaContext = {
    ...context,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done() {},
    fail() {},
    succeed() {},
  };
  try {
    const fn = await load();
    const result = await fn(event, lambdaContext);
    parentPort.postMessage({ id, ok: true, result: result === undefined ? null : result });
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    parentPort.postMessage({ id, ok: false, error: { errorType: e.name, errorMessage: e.message, stack: e.stack } });
  }
});
