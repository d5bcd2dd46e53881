import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { signToken } from '../../shared/auth';
import { LocalStack } from '../support/local-stack';
import { TestClient } from '../support/ws-client';

/**
 * API Gateway checks a token at the handshake only. Updraft closes a
 * connection at its first frame after the token's `exp` (docs/protocol.md,
 * "Token expiry"), and a connection with a valid token carries on meanwhile.
 */
const dataDir = mkdtempSync(path.join(tmpdir(), 'updraft-expiry-'));
let stack: LocalStack;
let secret: string;

beforeAll(async () => {
  // A stack with a data folder keeps its JWT secret in a file, which lets this test sign short-lived tokens.
  stack = await LocalStack.start({ dataDir });
  ({ secret } = stack.jwtSecret());
});

afterAll(async () => {
  await stack.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

it('closes a connection at its first frame after the token expires, and only that one', async () => {
  // The bystander's handshake warms the authorizer and $connect, so the short-lived token is not spent on a cold
  // start. On a loaded machine the first invocations, while the containers still load their bundles, can pass the
  // authorizer's 10 s timeout (HTTP 500): the bystander tries again then.
  let bystander: TestClient | undefined;
  for (let attempt = 1; !bystander; attempt++) {
    bystander = await stack.connect('bystander').catch((error: unknown) => {
      const status = error instanceof Error && 'status' in error ? error.status : undefined;
      if (status !== 500 || attempt === 3) throw error;
      return undefined;
    });
  }
  await bystander.request({ action: 'subscribe', channels: ['user:bystander'] });
  const expiresAt = Math.floor(Date.now() / 1000) + 4;
  const shortLived = await TestClient.open(`${stack.wsUrl}?token=${await signToken('ephemeral', secret, expiresAt)}`);

  // Before expiry, the short-lived connection works like any other.
  expect(await shortLived.request({ action: 'ping' })).toMatchObject({ type: 'pong' });

  await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt * 1000 - Date.now()) + 500));
  shortLived.sendRaw(JSON.stringify({ action: 'post', text: 'too late', id: 'late' }));
  const closed = await shortLived.closed;

  expect(closed.code).toBeGreaterThanOrEqual(1000);
  // Nothing was stored from the late frame; the other user carries on.
  const { Items = [] } = await stack.documentClient().send(new ScanCommand({ TableName: stack.tableName('Statuses') }));
  expect(Items.filter((item) => item['author'] === 'ephemeral')).toEqual([]);
  expect(await bystander.request({ action: 'post', text: 'still here' })).toMatchObject({ type: 'posted' });
  await bystander.close();
});

it('refuses the handshake of a token that has already expired', async () => {
  const expired = await signToken('ephemeral', secret, Math.floor(Date.now() / 1000) - 1);
  await expect(TestClient.open(`${stack.wsUrl}?token=${expired}`)).rejects.toMatchObject({ status: 401 });
});
