import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { COMMANDS } from '../../../../clients/cli/commands';
import { explainRefusal } from '../../../../clients/cli/connection';
import { Exit, exitCodeOf, help, main } from '../../../../clients/cli/main';
import { help as sessionHelp } from '../../../../clients/cli/interactive';
import { Limits } from '../../../../shared/protocol/limits';
import { Rules } from '../../../../shared/protocol/rules';

/** Nothing listens on port 9 (discard): a command that tried to connect would fail with exit 3, not 2. */
const NOWHERE = ['--url', 'http://127.0.0.1:9', '--user', 'ann'];

async function run(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; message: string }> {
  const lines: string[] = [];
  try {
    const code = await main(argv, (line) => lines.push(line), env);
    return { code, message: lines.join('\n') };
  } catch (error) {
    return exitCodeOf(error);
  }
}

describe('updraft usage, checked before connecting', () => {
  it.each([
    ['--limit 0', ['history', 'user:bob', '--limit', '0'], `--limit must be a whole number from 1 to ${Limits.historyMaxLimit}`],
    ['--limit abc', ['history', 'user:bob', '--limit', 'abc'], `--limit must be a whole number from 1 to ${Limits.historyMaxLimit}`],
    ['--limit over the maximum', ['history', 'user:bob', '--limit', String(Limits.historyMaxLimit + 1)], '--limit must be a whole number'],
    ['--before and --after', ['history', 'user:bob', '--before', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '--after', '01ARZ3NDEKTSV4RRFFQ69G5FAV'], 'give --before or --after, not both'],
    ['a cursor that is no status id', ['history', 'user:bob', '--before', 'yesterday'], `--before must be a status id (${Rules.statusId})`],
    ['no channel', ['history'], Rules.channel],
    ['a channel that is none', ['tail', 'user:bob', 'bob'], `"bob" is not a channel: ${Rules.channel}`],
    ['a follow of a bad user id', ['follow', 'bob smith'], `"bob smith" is not a user id: ${Rules.userId}`],
    ['presence of too many', ['presence', ...Array.from({ length: Limits.presenceMaxUsers + 1 }, (_, i) => `u${i}`)], `1 to ${Limits.presenceMaxUsers} user ids`],
    ['a status too long', ['post', 'x'.repeat(Limits.textMaxCodePoints + 1)], `text must hold 1 to ${Limits.textMaxCodePoints} characters`],
    ['a status of white space', ['post', ' '], 'text must hold 1'],
    ['a reply to no status id', ['post', 'hi', '--reply-to', 'abc'], '--reply-to must be a status id'],
    ['a post id too long', ['post', 'hi', '--id', 'x'.repeat(Limits.requestIdMaxLength + 1)], `--id must hold 1 to ${Limits.requestIdMaxLength} characters`],
    ['an option of another command', ['post', 'hi', '--limit', '5'], '--limit is an option of history and feed, not of post'],
    ['an unknown option', ['post', 'hi', '--frobnicate'], "Unknown option '--frobnicate'"],
    ['an unknown command', ['frobnicate'], 'unknown command frobnicate'],
  ])('refuses %s with exit 2', async (_case, argv, message) => {
    const result = await run([...argv, ...NOWHERE]);

    expect(result.code).toBe(Exit.Usage);
    expect(result.message).toContain(message);
  });

  it('says in words what a user id is, not as a pattern', async () => {
    const result = await run(['following', '--url', 'http://127.0.0.1:9', '--user', 'ann@example.com']);

    expect(result).toEqual({ code: Exit.Usage, message: expect.stringContaining(`--user: "ann@example.com" is not a user id: ${Rules.userId}`) as unknown });
    expect(Rules.userId).toBe('a user id is 1 to 64 letters, digits, _ or -');
    expect(result.message).not.toContain('[A-Za-z');
  });

  it('lets a good command line through to connecting (exit 3 where nothing listens)', async () => {
    const result = await run(['history', 'user:bob', '--limit', String(Limits.historyMaxLimit), ...NOWHERE]);

    expect(result.code).toBe(Exit.NoConnection);
    expect(result.message).toContain('cannot reach the local stack at http://127.0.0.1:9');
  });
});

describe('updraft help, from the command table', () => {
  it('lists every command with its options, and the session its slash commands', () => {
    const text = help();
    const session = sessionHelp();

    for (const command of COMMANDS) {
      expect(text).toContain(`  ${command.name}`);
      for (const option of command.options) expect(text).toMatch(new RegExp(`${command.name}[^\\n]*\\[--${option}[ \\]]`));
      if (command.interactive) expect(session).toContain(`/${command.name}`);
      else expect(session).not.toContain(`/${command.name}`);
    }
    expect(session).toContain('/reply <id> <text…>');
  });

  it('prints help and exits 0 on --help, 2 with no command', async () => {
    expect(await run(['--help'])).toEqual({ code: Exit.Ok, message: help() });
    expect(await run([])).toEqual({ code: Exit.Usage, message: help() });
  });
});

describe('where updraft connects', () => {
  let server: Server;
  const asked: string[] = [];
  let port: number;

  beforeAll(async () => {
    // Some other HTTP service (DynamoDB Local, say) on the port: it answers, but no dev token.
    server = createServer((req, res) => {
      asked.push(req.url ?? '');
      if (req.url === '/dev/token?user=jwks') {
        // The local stack in jwks mode, as local/stack.ts answers.
        res.writeHead(501, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not_implemented', message: 'this stack verifies tokens from an OIDC issuer (authMode jwks); dev tokens need hs256' }));
        return;
      }
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#MissingAuthenticationToken', Message: 'Request must contain either a valid (registered) AWS access key ID or X.509 certificate.' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    asked.length = 0;
  });

  it('goes to the port in UPDRAFT_PORT when no --url or UPDRAFT_URL says otherwise', async () => {
    await run(['following', '--user', 'ann'], { UPDRAFT_PORT: String(port) });

    expect(asked).toEqual(['/dev/token?user=ann']);
  });

  it('lets UPDRAFT_URL and --url win over UPDRAFT_PORT', async () => {
    const byVariable = await run(['following', '--user', 'ann'], { UPDRAFT_PORT: String(port), UPDRAFT_URL: 'http://127.0.0.1:9' });
    const byOption = await run(['following', '--user', 'ann', '--url', 'http://127.0.0.1:9'], { UPDRAFT_PORT: String(port), UPDRAFT_URL: `http://127.0.0.1:${port}` });

    expect(asked).toEqual([]);
    expect(byVariable.message).toContain('http://127.0.0.1:9');
    expect(byOption.message).toContain('http://127.0.0.1:9');
  });

  it('refuses an UPDRAFT_PORT that is no port', async () => {
    expect(await run(['following', '--user', 'ann'], { UPDRAFT_PORT: 'eighty' })).toEqual({ code: Exit.Usage, message: expect.stringContaining('UPDRAFT_PORT=eighty is not a port number') as unknown });
  });

  it('says plainly that no Updraft stack answers on a port where something else does, and exits 3', async () => {
    const result = await run(['following', '--user', 'ann', '--url', `http://127.0.0.1:${port}`]);

    expect(result.code).toBe(Exit.NoConnection);
    expect(result.message).toBe(`updraft: could not connect: no Updraft stack answers at http://127.0.0.1:${port}: GET /dev/token got HTTP 400, not a token. \`npm start\` prints its address (port 3000, or UPDRAFT_PORT).`);
  });

  it("passes on the local stack's own reason when it gives no dev token, and exits 3", async () => {
    const result = await run(['following', '--user', 'jwks', '--url', `http://127.0.0.1:${port}`]);

    expect(result).toEqual({
      code: Exit.NoConnection,
      message: `updraft: could not connect: the local stack at http://127.0.0.1:${port} gives no dev token: this stack verifies tokens from an OIDC issuer (authMode jwks); dev tokens need hs256`,
    });
  });
});

describe('a refused handshake, in words', () => {
  const url = 'wss://example.execute-api.eu-west-1.amazonaws.com/prod';

  it('says a 401 refused the token, and that it expired when the token says so', () => {
    const expired = new Date(Date.now() - 60_000);

    expect(explainRefusal({ status: 401, body: '{"message":"Unauthorized"}' }, url)).toBe(
      'the server refused the token (HTTP 401 "Unauthorized"): it is missing, malformed, wrongly signed or expired',
    );
    expect(explainRefusal({ status: 401, body: '' }, url, expired)).toContain(`this one expired at ${expired.toISOString()}`);
    expect(explainRefusal({ status: 401, body: '' }, url, new Date(Date.now() + 60_000))).not.toContain('this one expired');
  });

  it('tells a 403 and a server failure from a port where no Updraft API is', () => {
    expect(explainRefusal({ status: 403, body: '{"message":"Forbidden"}' }, url)).toMatch(/^the server refused the connection \(HTTP 403 "Forbidden"\)/);
    expect(explainRefusal({ status: 500, body: '{"message": "Internal server error"}' }, url)).toMatch(/^the server failed the handshake \(HTTP 500/);
    expect(explainRefusal({ status: 404, body: 'Not Found' }, url)).toBe(`no Updraft WebSocket API answers at ${url}: the handshake got HTTP 404. \`npm start\` prints its address (port 3000, or UPDRAFT_PORT).`);
  });
});
