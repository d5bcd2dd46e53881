/**
 * `updraft`: Updraft from a terminal, on the same client library as the
 * browser app. Run `updraft --help`.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { decodeJwt } from 'jose';
import WebSocket from 'ws';
import { UpdraftClient, UpdraftError, type SocketFactory } from '../../shared/client';
import { inboxChannel, parseChannel, userChannel } from '../../shared/protocol/channels';
import type { ChannelItem, Notification, Status } from '../../shared/protocol/types';

/** Exit codes a script can act on. */
export const Exit = {
  Ok: 0,
  /** The server answered with an error (bad_request, not_found, forbidden, rate_limited, …). */
  Refused: 1,
  Usage: 2,
  /** No connection: the stack is unreachable, or the handshake was refused (a bad or expired token). */
  NoConnection: 3,
} as const;

const HELP = `usage: updraft <command> [options]

commands:
  connect                         an interactive session: post, reply, follow, and a live tail
  post <text…> [--reply-to <id>]  post a status (or a reply); prints it
  tail <channel…>                 print statuses and notifications as they arrive, until Ctrl-C
  history <channel> [--limit n] [--before <id> | --after <id>]
  follow <user> | unfollow <user> | following | presence <user…>

channels: user:<id>, thread:<status id>, inbox:<your id>

options:
  --user <id>      sign in with a dev token from the local stack (npm start)
  --token <jwt>    sign in with a token (a deployed stack); or UPDRAFT_TOKEN
  --url <url>      the local stack's http://… address (default http://127.0.0.1:3000),
                   or the WebSocket URL of a deployed stack (wss://…); or UPDRAFT_URL
  --json           one JSON object per line, for scripts
  -h, --help

exit codes: 0 done, 1 the server refused the request, 2 usage error, 3 could not connect`;

class UsageError extends Error {}
class NoConnection extends Error {}

interface Output {
  status(channel: string, status: Status): void;
  notification(notification: Notification): void;
  /** A command's result: one JSON object (with `type`) for scripts, or a line of text for people. */
  value(frame: { readonly type: string } & Record<string, unknown>, text: string): void;
  info(text: string): void;
}

function output(json: boolean, write: (line: string) => void): Output {
  if (json) {
    return {
      status: (channel, status) => write(JSON.stringify({ type: 'status', channel, status })),
      notification: (notification) => write(JSON.stringify({ type: 'notification', notification })),
      value: (frame) => write(JSON.stringify(frame)),
      // Progress and messages as objects too, so that every line of --json output parses.
      info: (message) => write(JSON.stringify({ type: 'info', message })),
    };
  }
  const time = (iso: string) => new Date(iso).toLocaleTimeString();
  return {
    status: (channel, s) =>
      write(`${time(s.createdAt)}  ${s.author}${s.replyTo ? ` ↩ ${s.replyTo.slice(-6)}` : ''}: ${s.text}   [${s.id}${channel.startsWith('thread:') ? ` in ${channel}` : ''}]`),
    notification: (n) =>
      write(`${time(n.at)}  ★ ${n.kind === 'follow' ? `${n.from} followed you` : `${n.from} replied: ${n.status?.text ?? ''}   [${n.status?.id ?? n.id}]`}`),
    value: (_frame, text) => write(text),
    info: (text) => write(text),
  };
}

/** Where to connect and as whom: a dev token from the local stack, or a token given. */
async function credentials(
  url: string,
  user: string | undefined,
  token: string | undefined,
): Promise<{ wsUrl: string; user: string; token: () => Promise<string> }> {
  if (token) {
    if (!/^wss?:\/\//.test(url)) throw new UsageError('with --token, --url must be the WebSocket URL (wss://…/<stage>)');
    let subject: unknown;
    try {
      subject = decodeJwt(token).sub;
    } catch {
      throw new UsageError('--token is not a JWT');
    }
    if (typeof subject !== 'string') throw new UsageError('--token has no subject (sub)');
    return { wsUrl: url, user: subject, token: async () => token };
  }
  if (!user) throw new UsageError('say who you are: --user <id> (local stack) or --token <jwt>');
  let base: URL;
  try {
    base = new URL(url.replace(/^ws/, 'http'));
  } catch {
    throw new UsageError(`--url ${url} is not a URL`);
  }
  const fetchToken = async () => {
    let response: Response;
    try {
      response = await fetch(new URL(`/dev/token?user=${encodeURIComponent(user)}`, base));
    } catch (error) {
      throw new NoConnection(`cannot reach the local stack at ${base.origin} (is \`npm start\` running?): ${(error as Error).message}`);
    }
    const body = (await response.json().catch(() => ({}))) as { token?: string; wsUrl?: string; message?: string };
    if (response.status === 400) throw new UsageError(body.message ?? 'bad user id');
    if (!response.ok || !body.token || !body.wsUrl) throw new NoConnection(`no dev token from ${base.origin}: HTTP ${response.status}`);
    return body as { token: string; wsUrl: string };
  };
  const first = await fetchToken();
  let pending: string | undefined = first.token;
  return {
    wsUrl: first.wsUrl,
    user,
    token: async () => {
      const fresh = pending ?? (await fetchToken()).token;
      pending = undefined;
      return fresh;
    },
  };
}

/** Connects, or fails fast: a one-shot command should not retry forever against a wrong address. */
async function connect(wsUrl: string, token: () => Promise<string>, out: Output): Promise<UpdraftClient> {
  const client = new UpdraftClient({ url: wsUrl, token, WebSocket: WebSocket as unknown as SocketFactory, backoff: { initialMs: 250, maxMs: 10_000 } });
  let everLive = false;
  const failed = new Promise<never>((_, reject) => {
    client.events.on('state', (change) => {
      if (change.state === 'live') everLive = true;
      if (change.state === 'reconnecting') {
        if (!everLive && (change.attempt ?? 0) >= 3) reject(new NoConnection(`cannot connect to ${wsUrl}: ${change.reason ?? 'unknown reason'}`));
        else if (everLive) out.info(`… ${change.reason ?? 'disconnected'}; reconnecting`);
      } else if (change.state === 'catching-up' && everLive) out.info('… reconnected, catching up');
    });
  });
  failed.catch(() => client.close());
  await Promise.race([client.connect(), failed]);
  return client;
}

function channelsOf(args: readonly string[]): string[] {
  if (args.length === 0) throw new UsageError('name at least one channel');
  for (const channel of args) if (!parseChannel(channel)) throw new UsageError(`${channel} is not a channel (user:<id>, thread:<status id>, inbox:<id>)`);
  return [...args];
}

/** Everything that can be checked without the server is, before connecting: a usage error exits 2 whatever the network does. */
function checkUsage(command: string, rest: readonly string[], values: { limit?: string; before?: string; after?: string }): void {
  switch (command) {
    case 'connect':
    case 'following':
      return;
    case 'post':
      if (!rest.join(' ').trim()) throw new UsageError('post what? updraft post <text…>');
      return;
    case 'tail':
      channelsOf(rest);
      return;
    case 'history':
      channelsOf(rest.slice(0, 1));
      if (values.limit !== undefined && !/^\d+$/.test(values.limit)) throw new UsageError('--limit must be a whole number (1 to 100)');
      if (values.before !== undefined && values.after !== undefined) throw new UsageError('give --before or --after, not both');
      return;
    case 'follow':
    case 'unfollow':
      if (!rest[0]) throw new UsageError(`${command} whom? updraft ${command} <user>`);
      return;
    case 'presence':
      if (rest.length === 0) throw new UsageError('presence of whom? updraft presence <user…>');
      return;
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

const show = (out: Output, channel: string, item: ChannelItem) => ('kind' in item ? out.notification(item) : out.status(channel, item));

export async function main(argv: readonly string[], write: (line: string) => void = (line) => console.log(line)): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      user: { type: 'string' },
      token: { type: 'string', default: process.env['UPDRAFT_TOKEN'] },
      url: { type: 'string', default: process.env['UPDRAFT_URL'] ?? 'http://127.0.0.1:3000' },
      json: { type: 'boolean', default: false },
      'reply-to': { type: 'string' },
      limit: { type: 'string' },
      before: { type: 'string' },
      after: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    write(HELP);
    return values.help ? Exit.Ok : Exit.Usage;
  }
  const out = output(values.json, write);
  checkUsage(command, rest, values);
  const { wsUrl, user, token } = await credentials(values.url, values.user, values.token);
  const client = await connect(wsUrl, token, out);
  try {
    switch (command) {
      case 'post': {
        const status = await client.post(rest.join(' '), values['reply-to']);
        out.value({ type: 'posted', status }, `posted ${status.id}`);
        return Exit.Ok;
      }
      case 'history': {
        const page = await client.history(rest[0] as string, {
          ...(values.limit ? { limit: Number(values.limit) } : {}),
          ...(values.before ? { before: values.before } : {}),
          ...(values.after ? { after: values.after } : {}),
        });
        if (values.json) out.value({ type: 'history', channel: page.channel, items: page.items, ...(page.next ? { next: page.next } : {}) }, '');
        else {
          // Oldest at the top, as a terminal reads.
          const items = values.after ? page.items : [...page.items].reverse();
          for (const item of items) show(out, page.channel, item);
          if (page.next) out.info(`more: --${values.after ? 'after' : 'before'} ${page.next}`);
        }
        return Exit.Ok;
      }
      case 'follow':
      case 'unfollow': {
        const followed = rest[0] as string;
        await (command === 'follow' ? client.follow(followed) : client.unfollow(followed));
        out.value({ type: `${command}ed`, user: followed }, `${command}ed ${followed}`);
        return Exit.Ok;
      }
      case 'following': {
        const users = await client.following();
        out.value({ type: 'following', users }, users.length ? users.join('\n') : '(no one)');
        return Exit.Ok;
      }
      case 'presence': {
        const users = await client.presence(rest);
        out.value({ type: 'presence', users }, users.map((p) => `${p.user}\t${p.online ? 'online' : `offline${p.lastSeen ? `, seen ${p.lastSeen}` : ''}`}`).join('\n'));
        return Exit.Ok;
      }
      case 'tail': {
        const channels = rest;
        // The server also sends the statuses of everyone the user follows; a tail shows what it was asked for.
        client.events.on('status', ({ channel, status }) => channels.includes(channel) && out.status(channel, status));
        if (channels.some((channel) => channel.startsWith('inbox:'))) client.events.on('notification', (n) => out.notification(n));
        await client.subscribe(channels);
        out.value({ type: 'subscribed', channels }, `tailing ${channels.join(', ')} (Ctrl-C to stop)`);
        await interrupted();
        return Exit.Ok;
      }
      default:
        return await interactive(client, out, user, write);
    }
  } finally {
    client.close();
  }
}

const INTERACTIVE_HELP = `type a status and press Enter to post it, or:
  /reply <id> <text>    answer a status (the id, or its last characters as shown)
  /follow <user>        /unfollow <user>      /following      /presence <user…>
  /tail <channel…>      /history <channel>    /help           /quit`;

/** A live session: the feed of the people followed and the inbox scroll by while you type. */
async function interactive(client: UpdraftClient, out: Output, me: string, write: (line: string) => void): Promise<number> {
  // Each status once, though it may arrive on several channels (user: and thread:) and as a reply to our own post.
  const seen = new Set<string>();
  const print = (channel: string, status: Status) => {
    if (seen.has(status.id)) return;
    seen.add(status.id);
    out.status(channel, status);
  };
  client.events.on('status', ({ channel, status }) => print(channel, status));
  client.events.on('notification', (n) => out.notification(n));
  await client.subscribe([userChannel(me), inboxChannel(me)]);
  const following = await client.following();
  out.info(`signed in as ${me}; following ${following.length ? following.join(', ') : 'no one'}. /help for commands.`);
  const lines = createInterface({ input: process.stdin, terminal: false });
  for await (const raw of lines) {
    const line = raw.trim();
    if (!line) continue;
    try {
      if (!line.startsWith('/')) {
        print(userChannel(me), await client.post(line));
        continue;
      }
      const [command, ...args] = line.slice(1).split(/\s+/);
      switch (command) {
        case 'quit':
        case 'exit':
          return Exit.Ok;
        case 'help':
          write(INTERACTIVE_HELP);
          break;
        case 'reply': {
          const [target = '', ...words] = args;
          const id = [...seen].find((known) => known === target || known.endsWith(target.toUpperCase())) ?? target;
          print(userChannel(me), await client.post(words.join(' '), id));
          break;
        }
        case 'follow':
        case 'unfollow':
          if (!args[0]) throw new UsageError(`/${command} <user>`);
          await (command === 'follow' ? client.follow(args[0]) : client.unfollow(args[0]));
          out.info(`${command}ed ${args[0]}`);
          break;
        case 'following':
          out.info((await client.following()).join(', ') || '(no one)');
          break;
        case 'presence':
          for (const p of await client.presence(args.length ? args : await client.following())) out.info(`${p.user}: ${p.online ? 'online' : 'offline'}`);
          break;
        case 'tail':
          await client.subscribe(channelsOf(args));
          out.info(`tailing ${args.join(', ')}`);
          break;
        case 'history': {
          const page = await client.history(channelsOf(args.slice(0, 1))[0] as string, { limit: 20 });
          for (const item of [...page.items].reverse()) show(out, page.channel, item);
          break;
        }
        default:
          out.info(`unknown command /${command}; /help lists them`);
      }
    } catch (error) {
      out.info(`! ${error instanceof UpdraftError ? `${error.code}: ${error.message}` : (error as Error).message}`);
    }
  }
  return Exit.Ok;
}

function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

export function exitCodeOf(error: unknown): { code: number; message: string } {
  if (error instanceof UsageError) return { code: Exit.Usage, message: `updraft: ${error.message}\nTry updraft --help.` };
  if (error instanceof NoConnection) return { code: Exit.NoConnection, message: `updraft: ${error.message}` };
  if (error instanceof UpdraftError) return { code: error.code === 'timeout' ? Exit.NoConnection : Exit.Refused, message: `updraft: ${error.code}: ${error.message}` };
  if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
    return { code: Exit.Usage, message: `updraft: ${error.message}\nTry updraft --help.` };
  }
  return { code: Exit.Refused, message: `updraft: ${(error as Error).message ?? String(error)}` };
}
