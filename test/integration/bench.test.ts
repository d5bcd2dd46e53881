// jest's global expect types its asymmetric matchers as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import type { BenchReport } from '../../clients/cli/bench/report';
import { LocalStack } from '../support/local-stack';

/** `updraft bench`, run as an operator runs it, against the real local stack. */
const BIN = path.resolve(__dirname, '..', '..', 'clients', 'cli', 'bin.mjs');
let stack: LocalStack;

beforeAll(async () => {
  // Two posters post 10 statuses each within a second or two: faster than a person may (the post
  // budget, 10 at once then 1 a second, has tests of its own), so the budget is lifted here.
  stack = await LocalStack.start({ env: { UPDRAFT_FUNCTION_ENV: 'POST_RATE_BURST=1000,POST_RATE_PER_SECOND=1000' } });
});

afterAll(async () => {
  expect(await stack.stop()).toBe(0);
});

const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !['UPDRAFT_URL', 'UPDRAFT_PORT', 'UPDRAFT_TOKEN'].includes(name)));

function updraft(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => { resolve({ code, stdout, stderr }); }));
}

describe('updraft bench against the local stack', () => {
  it("reports every delivery once: subscribers × their channel's posts, none missing, percentiles in order", async () => {
    // Act: 50 subscribers over 2 channels (25 each), 20 posts (10 to each channel).
    const { code, stdout, stderr } = await updraft('bench', '--url', stack.httpUrl, '--subscribers', '50', '--channels', '2', '--posts', '20', '--rate', '10/s', '--json');

    // Assert
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    const report = JSON.parse(stdout) as BenchReport;
    expect(report.subscribers).toEqual({ planned: 50, subscribed: 50 });
    expect(report.posts).toEqual({ planned: 20, sent: 20, posted: 20 });
    expect(report.deliveries).toMatchObject({ expected: 25 * 10 * 2, received: 500, duplicates: 0, missing: 0 });
    expect(report.deliveries.perSecond).toBeGreaterThan(0);
    expect(report.handshakeFailures.total).toBe(0);
    expect(report.errors).toEqual({});
    const latency = report.latencyMs;
    if (latency === null) throw new Error('no latencies in the report');
    expect(Object.values(latency.histogram).reduce((a, b) => a + b, 0)).toBe(500);
    expect(latency.p50).toBeLessThanOrEqual(latency.p90);
    expect(latency.p90).toBeLessThanOrEqual(latency.p99);
    expect(latency.p99).toBeLessThanOrEqual(latency.max);
    // The progress line went to stderr, the report alone to stdout.
    expect(stderr).toMatch(/delivered/);
  }, 60_000);

  it('refuses a shard without the run it belongs to, before connecting (exit 2)', async () => {
    const { code, stderr } = await updraft('bench', '--url', stack.httpUrl, '--shard', '1/2');

    expect(code).toBe(2);
    expect(stderr).toContain('--shard needs --run <name>');
  });
});
