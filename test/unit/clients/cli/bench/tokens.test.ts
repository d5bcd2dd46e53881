import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { readSecret, tokenSource } from '../../../../../clients/cli/bench/tokens';
import { UsageError } from '../../../../../clients/cli/errors';
import { main } from '../../../../../clients/cli/main';
import { InvalidToken, tokenVerifier } from '../../../../../shared/auth';

const WSS = 'wss://abc123.execute-api.eu-west-1.amazonaws.com/prod';
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:UpdraftJwtSecret-AbCdEf';
const SECRET = 'the-stack-signing-secret-of-32-chars!';

describe('bench tokens for a deployed stack', () => {
  const secrets = mockClient(SecretsManagerClient);
  afterEach(() => secrets.reset());

  it("reads the stack's secret in the secret's own region and signs tokens its authorizer accepts", async () => {
    secrets.on(GetSecretValueCommand, { SecretId: ARN }).resolves({ SecretString: SECRET });

    const source = await tokenSource(WSS, { secretArn: ARN });
    const token = await source.tokenFor('bench-r1-s7');

    expect(source).toMatchObject({ wsUrl: WSS, local: false });
    const client = secrets.call(0).thisValue as SecretsManagerClient;
    expect(await client.config.region()).toBe('eu-west-1');
    await expect(tokenVerifier({ mode: 'hs256', secret: () => Promise.resolve(SECRET) })(token)).resolves.toMatchObject({ userId: 'bench-r1-s7' });
  });

  it('signs with --audience, which a stack deployed with jwtAudience requires', async () => {
    const verify = tokenVerifier({ mode: 'hs256', secret: () => Promise.resolve(SECRET), audience: ['updraft-prod'] });
    const read = () => Promise.resolve(SECRET);

    const withAudience = await tokenSource(WSS, { secretArn: ARN, audience: 'updraft-prod' }, read);
    const without = await tokenSource(WSS, { secretArn: ARN }, read);

    await expect(verify(await withAudience.tokenFor('bench-r1-s1'))).resolves.toMatchObject({ userId: 'bench-r1-s1' });
    await expect(verify(await without.tokenFor('bench-r1-s1'))).rejects.toBeInstanceOf(InvalidToken);
  });

  it('says so when the secret holds no string', async () => {
    secrets.on(GetSecretValueCommand).resolves({});

    await expect(readSecret(ARN)).rejects.toThrow(`the secret ${ARN} holds no string`);
  });

  it('refuses options that do not go together, before reading the secret', async () => {
    const read = jest.fn(() => Promise.resolve(SECRET));

    await expect(tokenSource(WSS, { secretArn: ARN, tokenCmd: 'echo {user}' }, read)).rejects.toThrow(UsageError);
    await expect(tokenSource(WSS, { tokenCmd: 'echo t', audience: 'a' }, read)).rejects.toThrow('--audience goes with --secret-arn');
    await expect(tokenSource(WSS, { secretArn: ARN, audience: '' }, read)).rejects.toThrow('--audience is one of');
    await expect(tokenSource('http://127.0.0.1:1', { secretArn: ARN }, read)).rejects.toThrow('are for a deployed stack');
    await expect(tokenSource(WSS, {}, read)).rejects.toThrow('say where tokens come from');
    expect(read).not.toHaveBeenCalled();
  });

  it('refuses a --secret-arn that is not an ARN, without calling Secrets Manager', async () => {
    await expect(tokenSource(WSS, { secretArn: 'not-an-arn' })).rejects.toThrow('--secret-arn is an ARN');
    expect(secrets.calls()).toHaveLength(0);
  });

  it('takes a token per user from --token-cmd, with the user in place of {user}', async () => {
    const source = await tokenSource(WSS, { tokenCmd: 'printf "tok-%s\\n" {user}' });

    await expect(source.tokenFor('bench-r1-p3')).resolves.toBe('tok-bench-r1-p3');
    await expect((await tokenSource(WSS, { tokenCmd: 'true {user}' })).tokenFor('u1')).rejects.toThrow('printed no token for u1');
  });
});

describe('UPDRAFT_JWT_AUDIENCE', () => {
  /** A run that stops at the --yes question (over 1,000 connections), after its tokens are settled and before it connects. */
  const bench = (args: readonly string[], env: NodeJS.ProcessEnv) => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    return main(['bench', '--url', WSS, '--subscribers', '2000', ...args], () => undefined, env).finally(() => stderr.mockRestore());
  };

  it('is read only with --secret-arn: a run with --token-cmd ignores it', async () => {
    await expect(bench(['--token-cmd', 'echo t-{user}'], { UPDRAFT_JWT_AUDIENCE: 'updraft-prod' })).rejects.toThrow('add --yes to run it');
    await expect(bench(['--token-cmd', 'echo t-{user}', '--audience', 'updraft-prod'], {})).rejects.toThrow('--audience goes with --secret-arn');
  });
});
