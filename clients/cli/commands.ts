/**
 * The one table of `updraft`'s commands: help, usage checks and dispatch,
 * for the command line and for the slash commands of `connect`, all come
 * from here.
 */
import { parseArgs } from 'node:util';
import { UpdraftError, type UpdraftClient } from '../../shared/client';
import { parseChannel, threadChannel, userChannel } from '../../shared/protocol/channels';
import { ErrorCode, ProtocolError } from '../../shared/protocol/codes';
import { Limits } from '../../shared/protocol/limits';
import { Rules, userIdProblem } from '../../shared/protocol/rules';
import type { ChannelItem, ChannelName, Presence, Status } from '../../shared/protocol/types';
import { validateFeed, validateGet, validateHistory, validatePost, validatePresence, type Frame } from '../../shared/protocol/validate';
import { benchCommand } from './bench/command';
import { Exit, UsageError } from './errors';
import { interactive } from './interactive';
import type { Output } from './output';
import { MAX_ID_PREFIX, PublishApiError, newTally, publishPatiently, requestIdFor, summarize, type PublishContext } from './publish';

/** Every option, described once. Each command lists the ones of its own; the global ones apply to all. */
export const OPTIONS = {
  user: { type: 'string', arg: '<id>', help: 'sign in with a dev token from the local stack (npm start)' },
  token: { type: 'string', arg: '<jwt>', help: 'sign in with a token (a deployed stack); or UPDRAFT_TOKEN' },
  url: {
    type: 'string',
    arg: '<url>',
    help: "the local stack's http://… address (default http://127.0.0.1:3000, or\nthe port in UPDRAFT_PORT), or the WebSocket URL of a deployed\nstack (wss://…/<stage>); or UPDRAFT_URL",
  },
  json: { type: 'boolean', help: 'one JSON object per line, for scripts' },
  help: { type: 'boolean', short: 'h', help: 'this help' },
  'reply-to': { type: 'string', arg: '<id>', help: 'the status answered' },
  limit: { type: 'string', arg: '<n>', help: `${Rules.historyLimit}; ${Rules.feedLimit}` },
  before: { type: 'string', arg: '<id>', help: 'the page before this status (older)' },
  after: { type: 'string', arg: '<id>', help: 'the page after this status (newer)' },
  as: { type: 'string', arg: '<user>', help: 'the user a status is published as' },
  id: {
    type: 'string',
    arg: '<id>',
    help: `an idempotency id: the same id within 10 minutes posts nothing new,\nand with another text it is refused (conflict); publish: at most\n${MAX_ID_PREFIX} characters, and with stdin line n gets <id>-<n>`,
  },
  'publish-url': {
    type: 'string',
    arg: '<url>',
    help: "the publish API (the stack's PublishApiUrl output); or\nUPDRAFT_PUBLISH_URL; the local stack's is found from --url",
  },
  subscribers: { type: 'string', arg: '<n>', help: 'bench: WebSocket subscribers, one user each (default 100)' },
  channels: { type: 'string', arg: '<n>', help: 'bench: channels (user:<poster>), one poster each (default 10)' },
  posts: { type: 'string', arg: '<n>', help: 'bench: statuses posted in all (default 100)' },
  rate: { type: 'string', arg: '<n>/s', help: 'bench: posts per second in all (default 10)' },
  duration: { type: 'string', arg: '<time>', help: 'bench: post for this long (90s, 2m) instead of --posts' },
  shard: { type: 'string', arg: '<i>/<n>', help: 'bench: run the i-th of n equal parts (one per machine)' },
  run: { type: 'string', arg: '<name>', help: "bench: the run's name, the same in every shard" },
  start: { type: 'string', arg: '<time>', help: 'bench: start posting at this time (ISO 8601), in every shard' },
  'secret-arn': { type: 'string', arg: '<arn>', help: "bench: sign tokens with the deployed stack's hs256 secret" },
  'token-cmd': { type: 'string', arg: '<cmd>', help: 'bench: a command printing a token for {user}' },
  audience: { type: 'string', arg: '<aud>', help: "bench: the aud of --secret-arn's tokens, one of the stack's\njwtAudience values; or UPDRAFT_JWT_AUDIENCE" },
  yes: { type: 'boolean', help: 'bench: run against a deployed stack above 1,000 connections' },
} as const;

export type OptionName = keyof typeof OPTIONS;
export const GLOBAL_OPTIONS = ['user', 'token', 'url', 'json', 'help'] as const satisfies readonly OptionName[];
const COMMAND_OPTIONS = [
  'reply-to', 'limit', 'before', 'after', 'as', 'id', 'publish-url',
  'subscribers', 'channels', 'posts', 'rate', 'duration', 'shard', 'run', 'start', 'secret-arn', 'token-cmd', 'audience', 'yes',
] as const satisfies readonly OptionName[];
type CommandOption = (typeof COMMAND_OPTIONS)[number];
/** Every option, in the order help lists them. */
export const ALL_OPTIONS: readonly OptionName[] = [...GLOBAL_OPTIONS, ...COMMAND_OPTIONS];

/** The command's own options as given (strings; checked by the command). */
export type CommandOptions = Readonly<Partial<Record<CommandOption, string>>>;

export interface Session {
  readonly client: UpdraftClient;
  readonly out: Output;
  readonly user: string;
  /** In `connect`: a command returns to the prompt, and live statuses print on their own. */
  readonly interactive: boolean;
  /** One page of a channel, whose items print once: by the command, not also as they reach the client's listeners. */
  readonly history: UpdraftClient['history'];
  /** One page of the home feed, printed once in the same way. */
  readonly feed: UpdraftClient['feed'];
  /** Shows a status as it happens (in `connect`, once, however many channels bring it). */
  readonly live: (channel: ChannelName, status: Status) => void;
}

/** What a command does once connected; its result is the exit code. */
export type Run = (session: Session) => Promise<number>;

interface CommandBase {
  readonly name: string;
  /** Its arguments, as help shows them. */
  readonly args: string;
  readonly options: readonly CommandOption[];
  readonly help: string;
}

/** A command of a signed-in user, over the WebSocket. */
export interface SessionCommand extends CommandBase {
  readonly via: 'websocket';
  /** Also a slash command of `connect`. */
  readonly interactive: boolean;
  /** Checks the arguments before anything connects (a UsageError when wrong), and returns what to run. */
  readonly prepare: (args: readonly string[], options: CommandOptions) => Run;
}

/** A command of a backend, over the publish API: no user signs in, AWS credentials sign each request. */
export interface PublishCommand extends CommandBase {
  readonly via: 'publish-api';
  readonly interactive: false;
  readonly prepare: (args: readonly string[], options: CommandOptions) => (context: PublishContext) => Promise<number>;
}

/** The load tool: it opens connections of its own for users of its own, so no one signs in (clients/cli/bench/). */
export interface BenchCommand extends CommandBase {
  readonly via: 'bench';
  readonly interactive: false;
}

export type Command = SessionCommand | PublishCommand | BenchCommand;

export const COMMANDS: readonly Command[] = [
  {
    name: 'connect',
    via: 'websocket',
    args: '',
    options: [],
    help: 'an interactive session: post, reply, follow, and a live tail',
    interactive: false,
    prepare: (args) => {
      noArguments('connect', args);
      return interactive;
    },
  },
  {
    name: 'post',
    via: 'websocket',
    args: '<text…>',
    options: ['reply-to', 'id'],
    help: 'post a status (or a reply); prints it',
    interactive: true,
    prepare: (args, options) => {
      if (args.length === 0) throw new UsageError('post what? updraft post <text…>');
      const { text, replyTo } = checked(validatePost, { text: args.join(' '), replyTo: options['reply-to'] });
      const { id } = options;
      if (id !== undefined && (id === '' || id.length > Limits.requestIdMaxLength)) throw new UsageError(`--id must hold 1 to ${Limits.requestIdMaxLength} characters`);
      return async ({ client, out, interactive, live }) => {
        const status = await client.post(text, replyTo, id === undefined ? {} : { id });
        if (interactive) live(userChannel(status.author), status);
        else out.value({ type: 'posted', status }, `posted ${status.id}`);
        return Exit.Ok;
      };
    },
  },
  {
    name: 'tail',
    via: 'websocket',
    args: '<channel…>',
    options: [],
    help: 'print statuses and notifications as they arrive, until Ctrl-C',
    interactive: true,
    prepare: (args) => {
      const channels = channelsOf(args);
      return async ({ client, out, interactive }) => {
        if (!interactive) {
          // The server also sends the statuses of everyone the user follows; a tail shows what it was asked for.
          client.events.on('status', ({ channel, status }) => {
            if (channels.includes(channel)) out.status(channel, status);
          });
          if (channels.some((channel) => parseChannel(channel)?.kind === 'inbox')) client.events.on('notification', (n) => { out.notification(n); });
          // Said, never hidden: items missed on the way are fetched before what follows them is printed.
          client.events.on('gap', ({ channel, from, to }) => {
            if (channels.includes(channel)) out.info(`${channel}: missed ${to - from + 1} on the way (${positions(from, to)}); fetching them`);
          });
          client.events.on('recovered', ({ channel, from, to, lost }) => {
            if (!channels.includes(channel)) return;
            out.info(lost.length === 0 ? `${channel}: recovered ${positions(from, to)}` : `${channel}: ${lost.length} item(s) could not be recovered (positions ${lost.join(', ')}): the server no longer has them`);
          });
        }
        await client.subscribe(channels);
        if (interactive) {
          out.info(`tailing ${channels.join(', ')}`);
          return Exit.Ok;
        }
        out.value({ type: 'subscribed', channels }, `tailing ${channels.join(', ')} (Ctrl-C to stop)`);
        await interrupted();
        return Exit.Ok;
      };
    },
  },
  {
    name: 'history',
    via: 'websocket',
    args: '<channel>',
    options: ['limit', 'before', 'after'],
    help: 'a page of a channel, oldest at the top (with --json: as the\nserver pages it, newest first unless --after)',
    interactive: true,
    prepare: (args, options) => {
      const [channel] = channelsOf(args);
      if (channel === undefined || args.length > 1) throw new UsageError('history of one channel: updraft history <channel>');
      const { channel: asked, ...page } = checked(validateHistory, {
        channel,
        limit: wholeNumber(options.limit),
        before: options.before,
        after: options.after,
      });
      return async ({ out, history }) => {
        const reply = await history(asked, page);
        if (out.json) {
          out.value({ type: 'history', channel: reply.channel, items: reply.items, ...(reply.next === undefined ? {} : { next: reply.next }) }, '');
          return Exit.Ok;
        }
        // Oldest at the top, as a terminal reads: pages come newest first unless they go --after a status.
        const forward = 'after' in page;
        for (const item of forward ? reply.items : [...reply.items].reverse()) show(out, reply.channel, item);
        if (reply.next !== undefined) out.info(`more: --${forward ? 'after' : 'before'} ${reply.next}`);
        return Exit.Ok;
      };
    },
  },
  {
    name: 'feed',
    via: 'websocket',
    args: '',
    options: ['limit', 'before'],
    help: 'your home feed: you and the people you follow, oldest at the top\n(with --json: as the server pages it, newest first)',
    interactive: true,
    prepare: (args, options) => {
      noArguments('feed', args);
      const page = checked(validateFeed, { limit: wholeNumber(options.limit), before: options.before });
      return async ({ out, feed }) => {
        const reply = await feed(page);
        if (out.json) {
          out.value({ type: 'feed', ...reply }, '');
          return Exit.Ok;
        }
        if (reply.items.length === 0) out.info(page.before === undefined ? '(nothing yet: follow someone, or post)' : '(nothing older)');
        for (const status of [...reply.items].reverse()) out.status(userChannel(status.author), status, reply.replyCounts[status.id]);
        if (reply.next !== undefined) out.info(`more: --before ${reply.next}`);
        return Exit.Ok;
      };
    },
  },
  {
    name: 'show',
    via: 'websocket',
    args: '<status id>',
    options: [],
    help: 'a status with its thread: the root, then every reply, oldest first',
    interactive: true,
    prepare: (args) => {
      const [id] = args;
      if (id === undefined || args.length > 1) throw new UsageError('show which status? updraft show <status id>');
      checked(validateGet, { ids: [id] });
      return async ({ client, out, history }) => {
        const [asked] = (await client.get([id])).statuses;
        // As the server would answer a request for it: the exit code and message of a refusal.
        if (asked === undefined) throw new UpdraftError(ErrorCode.NotFound, `no status has the id ${id}`);
        const rootId = asked.thread ?? asked.id;
        // The root (when a reply was asked for) and the thread's newest replies, at once: two requests.
        const [found, replies] = await Promise.all([
          rootId === asked.id ? Promise.resolve({ statuses: [asked], replyCounts: {} }) : client.get([rootId]),
          history(threadChannel(rootId), { limit: 100 }),
        ]);
        const root = found.statuses[0];
        const thread = [...replies.items].reverse() as Status[];
        if (out.json) {
          out.value({ type: 'thread', status: asked, ...(root === undefined ? {} : { root }), replies: thread, ...(replies.next === undefined ? {} : { next: replies.next }) }, '');
          return Exit.Ok;
        }
        if (root !== undefined) out.status(userChannel(root.author), root);
        else out.info(`(the thread's first status, ${rootId}, is gone)`);
        for (const reply of thread) out.status(threadChannel(rootId), reply);
        out.info(`${thread.length === 1 ? '1 reply' : `${thread.length} replies`}${replies.next === undefined ? '' : `, and older ones: updraft history ${threadChannel(rootId)} --before ${replies.next}`}`);
        return Exit.Ok;
      };
    },
  },
  {
    name: 'follow',
    via: 'websocket',
    args: '<user>',
    options: [],
    help: "see a user's statuses live, on every connection",
    interactive: true,
    prepare: (args) => {
      const user = oneUser('follow', args);
      return async ({ client, out }) => {
        await client.follow(user);
        out.value({ type: 'followed', user }, `followed ${user}`);
        return Exit.Ok;
      };
    },
  },
  {
    name: 'unfollow',
    via: 'websocket',
    args: '<user>',
    options: [],
    help: 'stop following a user',
    interactive: true,
    prepare: (args) => {
      const user = oneUser('unfollow', args);
      return async ({ client, out }) => {
        await client.unfollow(user);
        out.value({ type: 'unfollowed', user }, `unfollowed ${user}`);
        return Exit.Ok;
      };
    },
  },
  {
    name: 'following',
    via: 'websocket',
    args: '',
    options: [],
    help: 'whom you follow',
    interactive: true,
    prepare: (args) => {
      noArguments('following', args);
      return async ({ client, out }) => {
        const users = await client.following();
        out.value({ type: 'following', users }, users.length > 0 ? users.join('\n') : '(no one)');
        return Exit.Ok;
      };
    },
  },
  {
    name: 'presence',
    via: 'websocket',
    args: '[<user…>]',
    options: [],
    help: 'who is online among the people you follow (all, or those named)',
    interactive: true,
    prepare: (args) => {
      for (const user of args) userId(user);
      // The protocol's own bound on users per request.
      if (args.length > 0) checked(validatePresence, { users: args });
      return async ({ client, out }) => {
        const asked = args.length > 0 ? args : await client.following();
        const users = asked.length > 0 ? await client.presence(asked) : [];
        const line = (p: Presence) => `${p.user}\t${p.online ? 'online' : `offline${p.lastSeen === undefined ? '' : `, seen ${p.lastSeen}`}`}`;
        out.value({ type: 'presence', users }, users.length > 0 ? users.map(line).join('\n') : '(no one)');
        return Exit.Ok;
      };
    },
  },
  {
    name: 'publish',
    via: 'publish-api',
    args: '[<text…>]',
    options: ['as', 'reply-to', 'id', 'publish-url'],
    help: "publish as a user through the publish API, signed with AWS credentials\n(the local stack's dev ones locally); with no text, one status per\nline of stdin, waiting out 429s, then a summary",
    interactive: false,
    prepare: (args, options) => {
      const author = options.as;
      if (author === undefined) throw new UsageError('publish as whom? updraft publish --as <user> [<text…>]');
      userId(author, '--as: ');
      const prefix = options.id;
      if (prefix !== undefined && (prefix === '' || prefix.length > MAX_ID_PREFIX)) throw new UsageError(`--id must hold 1 to ${MAX_ID_PREFIX} characters`);
      const replyTo = options['reply-to'];
      if (args.length > 0) {
        const post = checked(validatePost, { text: args.join(' '), replyTo });
        return async ({ api, out, sleep }) => {
          const tally = newTally();
          const { status, duplicate } = await publishPatiently(api, { author, ...post, id: requestIdFor(prefix) }, tally, sleep);
          const waited = tally.rateLimited > 0 ? ` (after ${tally.rateLimited} 429s, ${(tally.waitedMs / 1000).toFixed(1)} s)` : '';
          out.value({ type: 'published', status, duplicate, rateLimited: tally.rateLimited }, `${duplicate ? 'already published' : 'published'} ${status.id}${waited}`);
          return Exit.Ok;
        };
      }
      if (replyTo !== undefined) checked(validatePost, { text: 'x', replyTo });
      return async ({ api, out, lines, sleep }) => {
        const tally = newTally();
        let line = 0;
        for await (const text of lines()) {
          line++;
          if (text.trim() === '') {
            tally.skipped++;
            continue;
          }
          let post: ReturnType<typeof validatePost>;
          try {
            post = validatePost({ fields: { text, replyTo } });
          } catch (error) {
            if (!(error instanceof ProtocolError)) throw error;
            tally.failed++;
            out.info(`line ${line}: not published: ${error.message}`);
            continue;
          }
          try {
            const { status, duplicate } = await publishPatiently(api, { author, ...post, id: requestIdFor(prefix, line) }, tally, sleep);
            if (duplicate) tally.duplicates++;
            else tally.published++;
            out.value({ type: 'published', line, status, duplicate }, `line ${line}: ${duplicate ? 'already published' : 'published'} ${status.id}`);
          } catch (error) {
            if (!(error instanceof PublishApiError)) {
              // The API is out of reach (or the credentials are): say what was done before giving up.
              summarize(out, tally);
              throw error;
            }
            tally.failed++;
            out.info(`line ${line}: not published: ${error.code === undefined ? '' : `${error.code}: `}${error.message}`);
          }
        }
        return summarize(out, tally);
      };
    },
  },
  benchCommand,
];

/**
 * Reads options and arguments: those of `names` only, so an option another
 * command takes is an error here. Options are strings or flags, as OPTIONS says.
 */
export function parseCommandLine(
  args: readonly string[],
  names: readonly OptionName[],
): { options: Readonly<Partial<Record<OptionName, string | boolean>>>; positionals: string[] } {
  const config = Object.fromEntries(
    names.map((name) => {
      const option: { readonly type: 'string' | 'boolean'; readonly short?: string } = OPTIONS[name];
      return [name, option.short === undefined ? { type: option.type } : { type: option.type, short: option.short }];
    }),
  );
  try {
    const { values, positionals } = parseArgs({ args: [...args], options: config, allowPositionals: true, strict: true });
    return { options: values, positionals };
  } catch (error) {
    // Node's own words: "Unknown option '--x'", "Option '--limit <value>' argument missing". Checked by
    // shape, not instanceof: the error comes from Node's realm, which under a test runner is not the caller's.
    if (isNodeError(error) && error.code.startsWith('ERR_PARSE_ARGS')) throw new UsageError(error.message);
    throw error;
  }
}

/** The command's own options, once the line is parsed. */
export function commandOptions(command: Command, options: Readonly<Partial<Record<OptionName, string | boolean>>>): CommandOptions {
  const given: Partial<Record<CommandOption, string>> = {};
  for (const name of COMMAND_OPTIONS) {
    const value = options[name];
    if (value === undefined) continue;
    if (!command.options.includes(name)) {
      const owners = COMMANDS.filter((other) => other.options.includes(name)).map((other) => other.name);
      throw new UsageError(`--${name} is an option of ${listed(owners)}, not of ${command.name}`);
    }
    if (typeof value === 'string') given[name] = value;
  }
  return given;
}

/** A command as help shows it: name, arguments and options. */
export function synopsis(command: Pick<Command, 'name' | 'args' | 'options'>): string {
  const options = command.options.map((name) => {
    const option: { readonly arg?: string; readonly help: string } = OPTIONS[name];
    return option.arg === undefined ? `[--${name}]` : `[--${name} ${option.arg}]`;
  });
  return [command.name, command.args, ...options].filter((part) => part !== '').join(' ');
}

/** Two columns, the second wrapped where its text has line breaks, or below the first when that is long. */
export function helpTable(rows: readonly (readonly [string, string])[], indent = '  '): string[] {
  const width = Math.min(Math.max(...rows.map(([left]) => left.length)) + 2, 36);
  const pad = indent + ' '.repeat(width);
  return rows.map(([left, right]) => {
    const [first = '', ...more] = right.split('\n');
    const head = left.length + 2 > width ? `${indent}${left}\n${pad}${first}` : `${indent}${left.padEnd(width)}${first}`;
    return [head, ...more.map((line) => `${pad}${line}`)].join('\n');
  });
}

export const commandNamed = (name: string): Command | undefined => COMMANDS.find((command) => command.name === name);

export function show(out: Output, channel: ChannelName, item: ChannelItem): void {
  if ('kind' in item) out.notification(item);
  else out.status(channel, item);
}

/**
 * Runs one of the protocol's validators on the fields a command would send,
 * so the command line is held to the server's own rules; its complaint
 * becomes a usage error, in the command line's names.
 */
function checked<T>(validate: (frame: Frame) => T, fields: Record<string, unknown>): T {
  try {
    return validate({ fields });
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new UsageError(error.message.replace(/\b(replyTo|limit|before|after)\b/g, (field) => `--${field === 'replyTo' ? 'reply-to' : field}`));
  }
}

/** `a`, `a and b`, `a, b and c`. */
const listed = (words: readonly string[]): string => (words.length > 1 ? `${words.slice(0, -1).join(', ')} and ${words.at(-1) ?? ''}` : words.join(''));

/** A whole number goes to a validator as one; anything else as given, for the validator to refuse. */
const wholeNumber = (value: string | undefined): unknown => (value !== undefined && /^\d+$/.test(value) ? Number(value) : value);

export function userId(user: string, what = ''): string {
  const problem = userIdProblem(user);
  if (problem !== undefined) throw new UsageError(`${what}${problem}`);
  return user;
}

function oneUser(command: string, args: readonly string[]): string {
  const [user] = args;
  if (user === undefined || args.length > 1) throw new UsageError(`${command} whom? updraft ${command} <user>`);
  return userId(user);
}

export function channelsOf(args: readonly string[]): ChannelName[] {
  if (args.length === 0) throw new UsageError(`name at least one channel: ${Rules.channel}`);
  for (const channel of args) {
    if (parseChannel(channel) === undefined) throw new UsageError(`${JSON.stringify(channel)} is not a channel: ${Rules.channel}`);
  }
  return [...args];
}

const isNodeError = (error: unknown): error is { code: string; message: string } =>
  typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' && 'message' in error && typeof error.message === 'string';

function noArguments(command: string, args: readonly string[]): void {
  if (args.length > 0) throw new UsageError(`${command} takes no arguments`);
}

function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => { resolve(); });
    process.once('SIGTERM', () => { resolve(); });
  });
}

const positions = (from: number, to: number) => (from === to ? `position ${from}` : `positions ${from}-${to}`);
