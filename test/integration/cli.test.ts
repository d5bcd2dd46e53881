// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import { LocalStack } from '../support/local-stack';
import { until } from '../support/until';

/** The `updraft` command, run as a user runs it, against the real local stack. */
const BIN = path.resolve(__dirname, '..', '..', 'clients', 'cli', 'bin.mjs');
let stack: LocalStack;
const running: ChildProcessWithoutNullStreams[] = [];

/** A small publish budget (burst 2, then one a second), so that `publish` from stdin meets 429s and waits them out. */
const PUBLISH_BUDGET = 'PUBLISH_RATE_BURST=2,PUBLISH_RATE_PER_SECOND=1';

beforeAll(async () => {
  stack = await LocalStack.start({ env: { UPDRAFT_FUNCTION_ENV: PUBLISH_BUDGET } });
});

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  expect(await stack.stop()).toBe(0);
});

interface Run {
  readonly child: ChildProcessWithoutNullStreams;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

/** The test decides where the CLI goes; a variable in the environment that runs the tests does not. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !['UPDRAFT_URL', 'UPDRAFT_PORT', 'UPDRAFT_TOKEN', 'UPDRAFT_PUBLISH_URL'].includes(name)));

function start(args: readonly string[], input?: string, env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...cleanEnv, ...env } });
  running.push(child);
  const run: Run = { child, stdout: '', stderr: '', exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stdout.on('data', (chunk: Buffer) => (run.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (run.stderr += chunk.toString()));
  if (input !== undefined) child.stdin.end(input);
  return run;
}

async function updraft(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return updraftWith({}, ...args);
}

async function updraftWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = start(args, '', env);
  const code = await run.exited;
  return { code, stdout: run.stdout, stderr: run.stderr };
}

const as = (user: string) => ['--url', stack.httpUrl, '--user', user];
const lines = (stdout: string) => stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);

describe('updraft (the CLI)', () => {
  it('posts, and reads the status back with history, as JSON for scripts', async () => {
    const posted = await updraft('post', ...as('cli-ann'), '--json', 'hello', 'from', 'a', 'terminal');

    expect([posted.code, posted.stderr]).toEqual([0, '']);
    const [reply] = lines(posted.stdout);
    expect(reply).toMatchObject({ type: 'posted', status: { author: 'cli-ann', text: 'hello from a terminal' } });
    const history = await updraft('history', 'user:cli-ann', ...as('cli-ann'), '--json');
    expect(history.code).toBe(0);
    expect(lines(history.stdout)[0]).toMatchObject({ type: 'history', channel: 'user:cli-ann', items: [reply?.['status']] });
  });

  it('posts once under an --id, however often it runs, and refuses another text under it with conflict', async () => {
    const first = await updraft('post', ...as('cli-ida'), '--json', '--id', 'nightly-1', 'backup done');
    const again = await updraft('post', ...as('cli-ida'), '--json', '--id', 'nightly-1', 'backup done');
    const changed = await updraft('post', ...as('cli-ida'), '--id', 'nightly-1', 'backup failed');

    expect([first.code, again.code]).toEqual([0, 0]);
    expect(lines(again.stdout)).toEqual(lines(first.stdout));
    expect([changed.code, changed.stderr]).toEqual([1, expect.stringMatching(/^updraft: conflict: id "nightly-1" was used for another status .*nothing was posted/)]);
    const history = await updraft('history', 'user:cli-ida', ...as('cli-ida'), '--json');
    expect(lines(history.stdout)[0]?.['items']).toEqual([{ ...(lines(first.stdout)[0]?.['status'] as object), pos: 1 }]);
  });

  it('tails a channel live until interrupted, then exits 0', async () => {
    const tail = start(['tail', 'user:cli-bea', ...as('cli-tailer'), '--json']);
    await until(() => tail.stdout.includes('"type":"subscribed"'), 'the tail to subscribe');
    expect((await updraft('post', ...as('cli-bea'), 'live from the tail test')).code).toBe(0);
    await until(() => tail.stdout.includes('"type":"status"'), 'the status on the tail');

    const [subscribed, first] = lines(tail.stdout);
    expect(subscribed).toEqual({ type: 'subscribed', channels: ['user:cli-bea'] });
    expect(first).toMatchObject({ type: 'status', channel: 'user:cli-bea', status: { author: 'cli-bea', text: 'live from the tail test' } });
    tail.child.kill('SIGINT');
    expect(await tail.exited).toBe(0);
  });

  it('runs an interactive session: follow, post, and see the followed status live', async () => {
    const session = start(['connect', ...as('cli-cal')]);
    session.child.stdin.write('/follow cli-dee\n');
    await until(() => session.stdout.includes('followed cli-dee'), 'the follow');
    session.child.stdin.write('a status typed at the prompt\n');
    await until(() => session.stdout.includes('cli-cal: a status typed at the prompt'), 'the own status');
    expect((await updraft('post', ...as('cli-dee'), 'for my new follower')).code).toBe(0);
    await until(() => session.stdout.includes('cli-dee: for my new follower'), 'the followed status');

    session.child.stdin.end('/quit\n');
    expect(await session.exited).toBe(0);
    expect(session.stdout).toContain('signed in as cli-cal');
  });

  it('exits 1 when the server refuses, 2 on a usage error, 3 when it cannot connect', async () => {
    const refused = await updraft('post', ...as('cli-eve'), '--reply-to', '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'to nothing');
    const usage = await updraft('post', ...as('cli-eve'));
    const unknown = await updraft('frobnicate');
    const unreachable = await updraft('following', '--url', 'http://127.0.0.1:9', '--user', 'cli-eve');
    const badToken = await updraft('following', '--url', stack.wsUrl, '--token', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJldmUifQ.c2lnbmF0dXJl');

    expect([refused.code, refused.stderr]).toEqual([1, expect.stringContaining('not_found')]);
    expect([usage.code, usage.stderr]).toEqual([2, expect.stringContaining('post what?')]);
    expect(unknown.code).toBe(2);
    expect([unreachable.code, unreachable.stderr]).toEqual([3, expect.stringContaining('cannot reach the local stack')]);
    expect([badToken.code, badToken.stderr]).toEqual([3, expect.stringContaining('the server refused the token (HTTP 401')]);
    expect(badToken.stderr).not.toContain('Unexpected server response');
  });

  it('says a port where no Updraft stack answers is not one (DynamoDB Local answers there), and exits 3', async () => {
    const wrong = `http://127.0.0.1:${stack.ports.dynamodb}`;

    const result = await updraft('following', '--url', wrong, '--user', 'cli-eve');

    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`could not connect: no Updraft stack answers at ${wrong}`);
    expect(result.stderr).not.toMatch(/AWS access key|MissingAuthenticationToken/);
  });

  it('finds the local stack at UPDRAFT_PORT when no --url says where', async () => {
    const posted = await updraftWith({ UPDRAFT_PORT: String(stack.ports.http) }, 'post', '--user', 'cli-ida', '--json', 'found by port');

    expect(posted.code).toBe(0);
    expect(lines(posted.stdout)[0]).toMatchObject({ type: 'posted', status: { author: 'cli-ida', text: 'found by port' } });
  });

  it('refuses --limit 0 before connecting, as it refuses --limit abc', async () => {
    const zero = await updraft('history', 'user:cli-eve', '--limit', '0', ...as('cli-eve'));
    const word = await updraft('history', 'user:cli-eve', '--limit', 'abc', ...as('cli-eve'));

    expect([zero.code, zero.stderr]).toEqual([2, expect.stringContaining('--limit must be a whole number from 1 to 100')]);
    expect([word.code, word.stderr]).toEqual([2, expect.stringContaining('--limit must be a whole number from 1 to 100')]);
  });

  it('shows a page of /history once, oldest first, in an interactive session', async () => {
    const texts = ['first of three', 'second of three', 'third of three'];
    for (const text of texts) expect((await updraft('post', ...as('cli-gus'), text)).code).toBe(0);

    const session = start(['connect', ...as('cli-hal')]);
    session.child.stdin.write('/history user:cli-gus\n');
    await until(() => session.stdout.includes('third of three'), 'the history page');
    session.child.stdin.end('/history user:cli-gus --limit 2\n/quit\n');
    expect(await session.exited).toBe(0);

    const shown = session.stdout.split('\n').filter((line) => line.includes(' of three'));
    expect(shown.map((line) => /cli-gus: (.*?) {3}\[/.exec(line)?.[1])).toEqual([...texts, 'second of three', 'third of three']);
  });
  it('prints the home feed oldest at the top with reply counts, pages with --before, and as JSON for scripts', async () => {
    const post = async (user: string, text: string, replyTo?: string) => {
      const run = await updraft('post', ...as(user), '--json', text, ...(replyTo === undefined ? [] : ['--reply-to', replyTo]));
      expect(run.code).toBe(0);
      return (lines(run.stdout)[0]?.['status'] as { id: string }).id;
    };
    expect((await updraft('follow', 'cli-ivy', ...as('cli-jon'))).code).toBe(0);
    const question = await post('cli-ivy', 'ivy asks');
    await post('cli-jon', 'jon answers', question);
    await post('cli-ivy', 'ivy again');

    const page = await updraft('feed', '--limit', '2', ...as('cli-jon'));
    const older = await updraft('feed', '--before', /more: --before (\S+)/.exec(page.stdout)?.[1] ?? 'none', ...as('cli-jon'), '--json');

    expect([page.code, page.stderr]).toEqual([0, '']);
    expect(page.stdout.split('\n').filter((line) => line.includes(': ')).map((line) => /(cli-\w+)(?: ↩ \w+)?: (.*?) {3}\[/.exec(line)?.slice(1, 3))).toEqual([
      ['cli-jon', 'jon answers'],
      ['cli-ivy', 'ivy again'],
    ]);
    expect(older.code).toBe(0);
    expect(lines(older.stdout)).toEqual([{ type: 'feed', items: [expect.objectContaining({ id: question, text: 'ivy asks', pos: 1 })], replyCounts: { [question]: 1 } }]);
    expect(older.stdout).not.toContain('next');
  });

  it('shows a status with its whole thread, from the root or from a reply, and exits 1 for an unknown id', async () => {
    const root = (lines((await updraft('post', ...as('cli-kit'), '--json', 'the root')).stdout)[0]?.['status'] as { id: string }).id;
    const reply = (lines((await updraft('post', ...as('cli-lou'), '--json', 'a reply', '--reply-to', root)).stdout)[0]?.['status'] as { id: string }).id;
    await updraft('post', ...as('cli-kit'), 'a second reply', '--reply-to', reply);

    const fromReply = await updraft('show', reply, ...as('cli-lou'));
    const asJson = await updraft('show', root, ...as('cli-lou'), '--json');
    const unknown = await updraft('show', '01ARZ3NDEKTSV4RRFFQ69G5FAV', ...as('cli-lou'));

    expect(fromReply.code).toBe(0);
    expect(fromReply.stdout.split('\n').map((line) => /: (.*?) {3}\[/.exec(line)?.[1]).filter(Boolean)).toEqual(['the root', 'a reply', 'a second reply']);
    expect(fromReply.stdout).toContain('2 replies');
    expect(lines(asJson.stdout)).toEqual([
      { type: 'thread', status: expect.objectContaining({ id: root }), root: expect.objectContaining({ id: root }), replies: [expect.objectContaining({ id: reply }), expect.objectContaining({ text: 'a second reply' })] },
    ]);
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringContaining('not_found')]);
  });

  it('publishes as a user through the publish API, signed, and a second run with the same --id publishes nothing new', async () => {
    const first = await updraft('publish', '--url', stack.httpUrl, '--as', 'cli-pub', '--id', 'cli-once', '--json', 'from', 'a', 'backend');
    const again = await updraft('publish', '--url', stack.httpUrl, '--as', 'cli-pub', '--id', 'cli-once', 'from a backend');
    const history = await updraft('history', 'user:cli-pub', ...as('cli-pub'), '--json');

    expect([first.code, first.stderr]).toEqual([0, '']);
    const [published] = lines(first.stdout);
    expect(published).toMatchObject({ type: 'published', duplicate: false, status: { author: 'cli-pub', text: 'from a backend' } });
    const id = (published?.['status'] as { id: string }).id;
    expect([again.code, again.stdout.trim()]).toEqual([0, `already published ${id}`]);
    expect(lines(history.stdout)[0]).toMatchObject({ type: 'history', items: [expect.objectContaining({ id })] });
  });

  it('publishes one status per line of stdin, waits out the 429s of its budget, and sums them up', async () => {
    const texts = ['line one', 'line two', 'line three', 'line four', 'line five'];
    const run = start(['publish', '--url', stack.httpUrl, '--as', 'cli-feed', '--json'], `${texts.slice(0, 2).join('\n')}\n\n${texts.slice(2).join('\n')}\n`);

    expect([await run.exited, run.stderr]).toEqual([0, '']);
    const output = lines(run.stdout);
    const summary = output.at(-1);
    expect(output.filter((line) => line['type'] === 'published').map((line) => (line['status'] as { text: string }).text)).toEqual(texts);
    expect(summary).toMatchObject({ type: 'summary', published: 5, duplicates: 0, failed: 0, skipped: 1 });
    // A burst of 2, then one a second: the third line, sent a request's time after the second, had to wait.
    expect(summary?.['rateLimited']).toBeGreaterThanOrEqual(1);
    expect(summary?.['waitedMs']).toBeGreaterThan(0);
    const history = await updraft('history', 'user:cli-feed', ...as('cli-feed'), '--json');
    expect((lines(history.stdout)[0]?.['items'] as { text: string }[]).map((item) => item.text).reverse()).toEqual(texts);
  });

  it('reports what it could not publish from stdin and exits 1, publishing the rest', async () => {
    const run = start(['publish', '--url', stack.httpUrl, '--as', 'cli-mix'], `fine\n${'x'.repeat(501)}\nalso fine\n`);

    expect(await run.exited).toBe(1);
    expect(run.stdout).toContain('line 2: not published: text must hold 1 to 500 characters');
    expect(run.stdout.trim().split('\n').at(-1)).toMatch(/^published 2, \d+ answered 429.*, 1 refused$/);
  });

  it('refuses a publish it cannot make before sending anything: no --as, or no publish API to find', async () => {
    const noAuthor = await updraft('publish', '--url', stack.httpUrl, 'who am I');
    const deployed = await updraft('publish', '--url', 'wss://abc.execute-api.eu-west-1.amazonaws.com/prod', '--as', 'cli-pub', 'where to?');

    expect([noAuthor.code, noAuthor.stderr]).toEqual([2, expect.stringContaining('publish as whom?')]);
    expect([deployed.code, deployed.stderr]).toEqual([2, expect.stringContaining('--publish-url')]);
  });
});
