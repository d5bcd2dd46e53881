/**
 * Benchmark: the CPU one delivery costs the fan-out, for the SDK's
 * `PostToConnectionCommand` and for the lean DeliveryClient, side by side in one
 * run. Prints figures (and JSON with --json); asserts nothing.
 *
 *   npm run bench:delivery -- [--deliveries 20000] [--concurrency 32] [--runs 5] [--json]
 *
 * A model Management API runs in a child process of its own and answers 200 at
 * once, so the CPU counted here (this process's user + system time) is the
 * client's alone: serializing, signing, HTTP and the promise plumbing.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import pLimit from 'p-limit';
import { managementClient } from '../../shared/clients';
import { DeliveryClient, payload } from '../../shared/fanout/delivery-client';

const { values: args } = parseArgs({
  options: {
    deliveries: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '32' },
    runs: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
    /** `sdk`, `lean`, or both (the default): one alone is easier to profile (node --cpu-prof). */
    only: { type: 'string' },
    'serve-model': { type: 'boolean', default: false },
  },
});

const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'AKIDBENCHMARK', secretAccessKey: 'benchmark-secret' };
/** A typical status frame, about 300 bytes. */
const FRAME = {
  type: 'status',
  channel: 'user:alice',
  status: { id: '01JD6Y0Q8Z3N4W5X6Y7Z8A9B0C', author: 'alice', text: 'Just shipped the lean delivery client: one signer, keep-alive sockets, and nothing else on the hot path.', createdAt: '2026-11-27T12:00:00.000Z' },
};

/** The model Management API: `POST /<stage>/@connections/<id>` answers 200 with no body. */
async function serveModel(): Promise<void> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    req.resume();
    req.once('end', () => res.writeHead(200, { 'content-length': '0' }).end());
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    process.send?.({ port: address.port });
  });
  process.once('disconnect', () => process.exit(0));
}

interface Figures {
  readonly client: string;
  readonly deliveries: number;
  readonly callsPerSecond: number;
  readonly cpuMicrosPerDelivery: number;
}

async function measure(client: string, deliveries: number, concurrency: number, deliverOne: (i: number) => Promise<unknown>): Promise<Figures> {
  const limit = pLimit(concurrency);
  // Warm up: sockets open, code paths compiled.
  await Promise.all(Array.from({ length: Math.min(2_000, deliveries) }, (_, i) => limit(() => deliverOne(i))));
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: deliveries }, (_, i) => limit(() => deliverOne(i))));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { client, deliveries, callsPerSecond: deliveries / seconds, cpuMicrosPerDelivery: (cpu.user + cpu.system) / deliveries };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};

async function main(): Promise<void> {
  const deliveries = Number(args.deliveries);
  const concurrency = Number(args.concurrency);
  const runs = Number(args.runs);
  const model: ChildProcess = fork(__filename, ['--serve-model'], { execArgv: process.execArgv, stdio: 'inherit' });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      model.once('message', (message: { port: number }) => resolve(message.port));
      model.once('exit', (code) => reject(new Error(`the model API exited with ${code}`)));
    });
    const endpoint = `http://127.0.0.1:${port}/bench`;
    process.env['AWS_ACCESS_KEY_ID'] = CREDENTIALS.accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = CREDENTIALS.secretAccessKey;
    process.env['AWS_REGION'] = REGION;
    const sdk = managementClient(endpoint, concurrency);
    const lean = new DeliveryClient({ endpoint, region: REGION, credentials: CREDENTIALS, maxSockets: concurrency });
    const ids = Array.from({ length: 1_000 }, (_, i) => `Conn${String(i).padStart(6, '0')}AbCd=`);
    const id = (i: number) => ids[i % ids.length] ?? '';

    const results: Figures[] = [];
    for (let run = 0; run < runs; run++) {
      // Alternate which goes first, so neither always runs on a warmer machine.
      const order = (run % 2 === 0 ? ['sdk', 'lean'] : ['lean', 'sdk']).filter((which) => args.only === undefined || which === args.only);
      for (const which of order) {
        if (which === 'sdk') {
          // The engine serializes each frame once and hands the same bytes to every call; so does this.
          const data = Buffer.from(JSON.stringify(FRAME));
          results.push(await measure('sdk PostToConnectionCommand', deliveries, concurrency, (i) => sdk.send(new PostToConnectionCommand({ ConnectionId: id(i), Data: data }))));
        } else {
          const data = payload(FRAME);
          results.push(await measure('lean DeliveryClient', deliveries, concurrency, (i) => lean.post(id(i), data)));
        }
      }
    }
    sdk.destroy();
    await lean.destroy();

    const summary = ['sdk PostToConnectionCommand', 'lean DeliveryClient'].map((client) => {
      const mine = results.filter((r) => r.client === client);
      return {
        client,
        runs: mine.length,
        deliveriesPerRun: deliveries,
        concurrency,
        medianCallsPerSecond: Math.round(median(mine.map((r) => r.callsPerSecond))),
        medianCpuMicrosPerDelivery: Math.round(median(mine.map((r) => r.cpuMicrosPerDelivery)) * 10) / 10,
      };
    });
    const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version };
    if (args.json) {
      console.log(JSON.stringify({ machine, summary, runs: results }));
      return;
    }
    console.log(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; ${deliveries} deliveries per run, ${concurrency} in flight, median of ${runs} runs`);
    for (const s of summary) console.log(`${s.client.padEnd(28)} ${String(s.medianCallsPerSecond).padStart(7)} calls/s  ${String(s.medianCpuMicrosPerDelivery).padStart(6)} µs CPU per delivery`);
  } finally {
    model.kill();
  }
}

if (args['serve-model']) void serveModel();
else
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
