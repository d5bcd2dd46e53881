/**
 * The model Management API for bench:scale: `POST /<stage>/@connections/<id>` as API
 * Gateway answers it, in a child process of its own so that the bench process's CPU
 * is the client's alone. Each post is decided when it arrives, then answered after a
 * log-normal latency:
 * - 429 when the account's token bucket is empty (rate `throttle`/s, `burst` tokens);
 * - 410 for a gone connection (a fixed share of connection ids, see isGone);
 * - 500 for a share `errors` of the rest, drawn at random: nothing is delivered;
 * - 200 otherwise, and the delivery is recorded against the connection id.
 * `GET /control/report` returns what was recorded since `POST /control/reset`.
 * Signatures are not checked (the client signs with fake credentials).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface ModelApiOptions {
  /** Median latency of an answer, ms. */
  readonly latencyMs: number;
  /** σ of the latency's logarithm: 0.4 puts p99 at about 2.5 × the median. */
  readonly latencySigma: number;
  /** The account's throttle: tokens per second. */
  readonly throttle: number;
  /** The token bucket's size. */
  readonly burst: number;
  /** Share of connection ids that are gone (410). */
  readonly gone: number;
  /** Share of posts answered 500. */
  readonly errors: number;
}

export interface ModelReport {
  readonly posts: number;
  readonly ok: number;
  readonly throttled: number;
  readonly gone: number;
  readonly errors: number;
  /** Epoch ms (sub-ms precision) of the first post received and the last 200 sent, since the reset. */
  readonly firstPostAt: number | undefined;
  readonly lastOkAt: number | undefined;
  /** When 50%, 90% and 99% of the 200s had been sent, epoch ms. */
  readonly okAt: { readonly p50: number; readonly p90: number; readonly p99: number } | undefined;
  /** Every connection id that got a 200, with how many it got. */
  readonly delivered: Readonly<Record<string, number>>;
  /** The server's own CPU since the reset, µs, and its event loop's p99 delay, ms: is the model keeping up? */
  readonly serverCpuMicros: number;
  readonly serverLoopP99Ms: number;
}

/** Epoch ms with sub-millisecond precision, comparable between the bench and the model. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/**
 * Whether the model answers 410 for this connection id: the same ids every time and in
 * every process (FNV-1a of the id), so that the bench knows whom not to expect.
 */
export function isGone(connectionId: string, share: number): boolean {
  if (share <= 0) return false;
  let hash = 0x811c9dc5;
  for (let i = 0; i < connectionId.length; i++) hash = Math.imul(hash ^ connectionId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) / 2 ** 32 < share;
}

export interface ModelApi {
  /** The stage's Management API endpoint, as the clients take it. */
  readonly endpoint: string;
  reset(): Promise<void>;
  report(): Promise<ModelReport>;
  stop(): Promise<void>;
}

const SERVE_FLAG = '--serve-model-api';

/** Forks the model (this file, run with the bench's own loader) and waits for its port. */
export async function startModelApi(options: ModelApiOptions): Promise<ModelApi> {
  const child: ChildProcess = fork(__filename, [SERVE_FLAG, JSON.stringify(options)], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // Whatever ends the bench ends the model with it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port));
    child.once('exit', (code) => reject(new Error(`the model Management API exited with ${code}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const control = async (method: string, path: string): Promise<string> => {
    const response = await fetch(`${base}${path}`, { method });
    if (!response.ok) throw new Error(`model API ${path}: HTTP ${response.status}`);
    return response.text();
  };
  return {
    endpoint: `${base}/bench`,
    reset: async () => {
      await control('POST', '/control/reset');
    },
    report: async () => JSON.parse(await control('GET', '/control/report')) as ModelReport,
    stop: async () => {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The child's side. Kept lean: it must answer 10,000 posts a second on one core. */
function serve(options: ModelApiOptions): void {
  const ratePerMs = options.throttle / 1000;
  const mu = Math.log(options.latencyMs);
  let tokens = options.burst;
  let refilledAt = performance.now();
  let counts = { posts: 0, ok: 0, throttled: 0, gone: 0, errors: 0 };
  let firstPostAt: number | undefined;
  let delivered = new Map<string, number>();
  let okTimes = new Float64Array(1 << 16);
  let cpuAtReset = process.cpuUsage();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();

  // Box-Muller gives normals in pairs; the second is kept for the next draw.
  let spare: number | undefined;
  const normal = (): number => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const r = Math.sqrt(-2 * Math.log(1 - Math.random()));
    const theta = 2 * Math.PI * Math.random();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
  const latency = () => Math.exp(mu + options.latencySigma * normal());

  const EMPTY = ['content-length', '0'];
  const errorHeaders = (type: string) => ['content-length', '0', 'x-amzn-errortype', type];
  const GONE = errorHeaders('GoneException');
  const THROTTLED = errorHeaders('LimitExceededException');
  const FAILED = errorHeaders('InternalServerErrorException');

  const answer = (res: ServerResponse, status: number, headers: string[]) => {
    res.writeHead(status, headers).end();
  };
  const deliver = (res: ServerResponse, connectionId: string) => {
    if (res.destroyed) return;
    delivered.set(connectionId, (delivered.get(connectionId) ?? 0) + 1);
    if (counts.ok === okTimes.length) {
      const grown = new Float64Array(okTimes.length * 2);
      grown.set(okTimes);
      okTimes = grown;
    }
    okTimes[counts.ok++] = epochMs();
    answer(res, 200, EMPTY);
  };

  const post = (res: ServerResponse, url: string, at: number) => {
    counts.posts++;
    firstPostAt ??= epochMs();
    const raw = url.slice(at + '/@connections/'.length);
    const connectionId = raw.includes('%') ? decodeURIComponent(raw) : raw;
    const now = performance.now();
    tokens = Math.min(options.burst, tokens + (now - refilledAt) * ratePerMs);
    refilledAt = now;
    // The body is not read: node:http discards what is left of it once the answer is sent.
    const wait = latency();
    if (tokens < 1) {
      counts.throttled++;
      setTimeout(answer, wait, res, 429, THROTTLED);
      return;
    }
    tokens -= 1;
    if (isGone(connectionId, options.gone)) {
      counts.gone++;
      setTimeout(answer, wait, res, 410, GONE);
    } else if (Math.random() < options.errors) {
      // Decided before anything is delivered: a 500 reaches no one.
      counts.errors++;
      setTimeout(answer, wait, res, 500, FAILED);
    } else {
      setTimeout(deliver, wait, res, connectionId);
    }
  };

  const report = (): ModelReport => {
    const times = okTimes.slice(0, counts.ok).sort();
    const at = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? NaN;
    const cpu = process.cpuUsage(cpuAtReset);
    return {
      ...counts,
      firstPostAt,
      lastOkAt: times.length > 0 ? at(1) : undefined,
      okAt: times.length > 0 ? { p50: at(0.5), p90: at(0.9), p99: at(0.99) } : undefined,
      delivered: Object.fromEntries(delivered),
      serverCpuMicros: cpu.user + cpu.system,
      serverLoopP99Ms: loop.percentile(99) / 1e6,
    };
  };

  const server = createServer((req, res) => {
    const url = req.url ?? '';
    const at = url.indexOf('/@connections/');
    if (req.method === 'POST' && at >= 0) {
      post(res, url, at);
      return;
    }
    req.resume();
    if (url === '/control/reset' && req.method === 'POST') {
      counts = { posts: 0, ok: 0, throttled: 0, gone: 0, errors: 0 };
      firstPostAt = undefined;
      delivered = new Map();
      okTimes = new Float64Array(1 << 16);
      tokens = options.burst;
      refilledAt = performance.now();
      cpuAtReset = process.cpuUsage();
      loop.reset();
      answer(res, 204, EMPTY);
    } else if (url === '/control/report' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(report()));
    } else {
      answer(res, 404, EMPTY);
    }
  });
  server.keepAliveTimeout = 120_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    process.send?.({ port: address.port });
  });
  process.once('disconnect', () => process.exit(0));
  process.once('SIGTERM', () => process.exit(0));
}

const flag = process.argv.indexOf(SERVE_FLAG);
if (flag >= 0) serve(JSON.parse(process.argv[flag + 1] ?? '{}') as ModelApiOptions);
