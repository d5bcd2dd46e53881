import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createServer } from 'node:net';
import { isDynamoDbLocalCommand } from '../../local/dynamodb';
import { LocalStack, freePort } from '../support/local-stack';
import { TestClient } from '../support/ws-client';

/**
 * Data outlives the process: after a clean stop and after a kill -9, every
 * status that was acknowledged with `posted` is still there, and tokens from
 * the first run still work (the secret is kept with the data).
 */
const dataDir = mkdtempSync(path.join(tmpdir(), 'updraft-restart-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const dynamoProcesses = (port: number) =>
  spawnSync('pgrep', ['-af', 'DynamoDBLocal.jar'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((line) => isDynamoDbLocalCommand(line, port))
    .join('\n');

it('keeps acknowledged statuses across a clean stop and a crash, and leaves no process behind', async () => {
  const first = await LocalStack.start({ dataDir });
  const token = await first.token('keeper');
  const alice = await TestClient.open(`${first.wsUrl}?token=${token}`);
  const before = await alice.request({ action: 'post', text: 'survives a restart' });
  await alice.close();
  // SIGTERM to the stack's process alone: it must stop DynamoDB Local itself.
  expect(await first.stop('SIGTERM', { sweep: false })).toBe(0);
  expect(first.output).toContain('stopped');
  expect(dynamoProcesses(first.ports.dynamodb)).toBe('');
  first.sweep();

  const second = await LocalStack.start({ dataDir, ports: first.ports });
  const again = await TestClient.open(`${second.wsUrl}?token=${token}`);
  const crashed = await again.request({ action: 'post', text: 'survives a crash' });
  expect(crashed).toMatchObject({ type: 'posted' });
  // kill -9: the stack cannot stop DynamoDB Local, which keeps the port; the next start must cope.
  await second.stop('SIGKILL', { sweep: false });
  expect(dynamoProcesses(first.ports.dynamodb)).not.toBe('');

  const third = await LocalStack.start({ dataDir, ports: first.ports });
  expect(third.output).toMatch(/stopped DynamoDB Local \(pid \d+\), left running/);
  const reader = await TestClient.open(`${third.wsUrl}?token=${token}`);
  const history = await reader.request({ action: 'history', channel: 'user:keeper' });
  await reader.close();
  expect(await third.stop('SIGTERM', { sweep: false })).toBe(0);
  expect(dynamoProcesses(first.ports.dynamodb)).toBe('');
  second.sweep();
  third.sweep();

  // Each with its position on the channel: the head survived both stops too.
  expect(history['items']).toEqual([
    { ...(crashed['status'] as object), pos: 2 },
    { ...(before['status'] as object), pos: 1 },
  ]);
}, 120_000);

it('refuses to start on a port that is taken, and says which and what to do', async () => {
  const blocker = createServer();
  const taken = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)));
  try {
    await expect(LocalStack.start({ ports: { http: taken, dynamodb: await freePort() } })).rejects.toThrow(
      new RegExp(`port ${taken} is already in use.*UPDRAFT_PORT`, 's'),
    );
  } finally {
    blocker.close();
  }
});

it('stops cleanly on Ctrl-C with clients connected: their $disconnect runs while DynamoDB Local is still up', async () => {
  const stack = await LocalStack.start();
  const [alice, bob] = await Promise.all([stack.connect('ctrl-c-alice'), stack.connect('ctrl-c-bob')]);

  // Ctrl-C in a terminal signals the whole foreground process group, not the stack's process alone.
  const code = await stack.stop('SIGINT', { interrupt: true, sweep: false });

  expect(code).toBe(0);
  // Stopped by the stack itself, not by the test's sweep.
  expect(dynamoProcesses(stack.ports.dynamodb)).toBe('');
  stack.sweep();
  expect(await alice.closed).toMatchObject({ code: 1001 });
  expect(await bob.closed).toMatchObject({ code: 1001 });
  expect(stack.output).toMatch(/SIGINT: stopping \(closing 2 client connections first\)/);
  expect(stack.output.match(/\$disconnect +closed 1001 /g)).toHaveLength(2);
  expect(stack.output).not.toMatch(/failed/);
  expect(stack.output).toMatch(/stopped\n$/);
}, 120_000);
