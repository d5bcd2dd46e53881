/** `updraft connect`: the feed of the people followed and the inbox scroll by while you type. */
import { UpdraftError, type UpdraftClient } from '../../shared/client';
import { inboxChannel, userChannel } from '../../shared/protocol/channels';
import type { ChannelItem, ChannelName, Status } from '../../shared/protocol/types';
import { COMMANDS, commandOptions, helpTable, parseCommandLine, synopsis, type Command, type Session, type SessionCommand } from './commands';
import { Exit, UsageError } from './errors';

/** Slash commands of the session alone; the rest are the table's interactive commands. */
interface SlashCommand extends Pick<Command, 'name' | 'args' | 'help'> {
  readonly aliases?: readonly string[];
  /** Runs it; `quit` ends the session. */
  readonly run: (args: readonly string[], session: Session & { readonly resolveId: (id: string) => string }) => Promise<'quit' | undefined>;
}

const SESSION_COMMANDS: readonly SlashCommand[] = [
  {
    name: 'reply',
    args: '<id> <text…>',
    help: 'answer a status (its id, or its last characters as shown)',
    run: async ([target, ...words], session) => {
      if (target === undefined) throw new UsageError('/reply <id> <text…>');
      await runCommand('post', words, { 'reply-to': session.resolveId(target) }, session);
      return undefined;
    },
  },
  {
    name: 'help',
    args: '',
    help: 'this list',
    run: ({ length }, { out }) => {
      if (length > 0) throw new UsageError('/help takes no arguments');
      out.info(help());
      return Promise.resolve(undefined);
    },
  },
  { name: 'quit', aliases: ['exit'], args: '', help: 'end the session', run: () => Promise.resolve('quit') },
];

/** The table's commands that are slash commands too (read when called: this module and the table import each other). */
const shared = () => COMMANDS.filter((command): command is SessionCommand => command.via === 'websocket' && command.interactive);

export function help(): string {
  const rows = [
    ...shared().map((command) => [`/${synopsis(command)}`, command.help] as const),
    ...SESSION_COMMANDS.map((command) => [`/${synopsis({ ...command, options: [] })}`, command.help] as const),
  ];
  return ['type a status and press Enter to post it, or:', ...helpTable(rows)].join('\n');
}

async function runCommand(name: string, args: readonly string[], options: Parameters<SessionCommand['prepare']>[1], session: Session): Promise<void> {
  const command = shared().find((candidate) => candidate.name === name);
  if (command === undefined) throw new Error(`no command ${name}`);
  await command.prepare(args, options)(session);
}

export async function interactive(base: Session): Promise<number> {
  const { client, out, user: me } = base;
  // Each status once, though it may arrive on several channels (user: and thread:) and as a reply to our own post.
  const seen = new Set<string>();
  const live = (channel: ChannelName, status: Status) => {
    if (seen.has(status.id)) return;
    seen.add(status.id);
    out.status(channel, status);
  };
  // While a page of history is on its way, items of its channel wait: the page shows them, in its order.
  const held = new Map<ChannelName, ChannelItem[]>();
  // While a page of the feed is on its way, statuses of every channel wait, for the same reason.
  let heldForFeed: { channel: ChannelName; status: Status }[] | undefined;
  client.events.on('status', ({ channel, status }) => {
    const hold = held.get(channel);
    if (heldForFeed !== undefined) heldForFeed.push({ channel, status });
    else if (hold === undefined) live(channel, status);
    else hold.push(status);
  });
  client.events.on('notification', (notification) => {
    const hold = held.get(inboxChannel(me));
    if (hold === undefined) out.notification(notification);
    else hold.push(notification);
  });
  const history: UpdraftClient['history'] = async (channel, page) => {
    const hold: ChannelItem[] = [];
    held.set(channel, hold);
    try {
      const reply = await client.history(channel, page);
      const paged = new Set(reply.items.map((item) => item.id));
      for (const id of paged) seen.add(id);
      // Whatever else arrived meanwhile was live, and shows as live.
      for (const item of hold) {
        if (paged.has(item.id)) continue;
        if ('kind' in item) out.notification(item);
        else live(channel, item);
      }
      return reply;
    } finally {
      held.delete(channel);
    }
  };
  const feed: UpdraftClient['feed'] = async (page) => {
    const hold: { channel: ChannelName; status: Status }[] = [];
    heldForFeed = hold;
    try {
      const reply = await client.feed(page);
      for (const status of reply.items) seen.add(status.id);
      for (const item of hold) live(item.channel, item.status);
      return reply;
    } finally {
      heldForFeed = undefined;
    }
  };
  const session = {
    ...base,
    interactive: true,
    history,
    feed,
    live,
    resolveId: (id: string) => [...seen].find((known) => known === id || known.endsWith(id.toUpperCase())) ?? id,
  };

  await client.subscribe([userChannel(me), inboxChannel(me)]);
  const following = await client.following();
  out.info(`signed in as ${me}; following ${following.length > 0 ? following.join(', ') : 'no one'}. /help for commands.`);
  // Loaded when a session starts: one-shot commands need no line reader.
  const { createInterface } = await import('node:readline');
  for await (const raw of createInterface({ input: process.stdin, terminal: false })) {
    const line = raw.trim();
    if (line === '') continue;
    try {
      if (!line.startsWith('/')) {
        await runCommand('post', [line], {}, session);
        continue;
      }
      const [name = '', ...words] = line.slice(1).split(/\s+/);
      const own = SESSION_COMMANDS.find((command) => command.name === name || command.aliases?.includes(name));
      if (own !== undefined) {
        if ((await own.run(words, session)) === 'quit') return Exit.Ok;
        continue;
      }
      const command = shared().find((candidate) => candidate.name === name);
      if (command === undefined) {
        out.info(`unknown command /${name}; /help lists them`);
        continue;
      }
      const { options, positionals } = parseCommandLine(words, command.options);
      await command.prepare(positionals, commandOptions(command, options))(session);
    } catch (error) {
      out.info(`! ${error instanceof UpdraftError ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error)}`);
    }
  }
  return Exit.Ok;
}
