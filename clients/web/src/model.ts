import pLimit from 'p-limit';
import { cursorAt, Timeline, UpdraftClient, type StateChange } from '../../../shared/client';
import { inboxChannel, threadChannel, userChannel } from '../../../shared/protocol/channels';
import type { Notification, Presence, Status } from '../../../shared/protocol/types';

export interface Snapshot {
  readonly me: string;
  readonly connection: StateChange;
  /** The home feed: the people followed and me, newest first. */
  readonly feed: readonly Status[];
  readonly following: readonly string[];
  readonly presence: ReadonlyMap<string, Presence>;
  /** Newest first. */
  readonly inbox: readonly Notification[];
  readonly unread: number;
  /** The thread open in the side view: its root (when known) and replies, oldest first. */
  readonly thread?: { readonly root: string; readonly status?: Status; readonly replies: readonly Status[] };
  /** The last thing that went wrong, for the user to see. */
  readonly problem?: string;
}

const FEED_SIZE = 200;
const FILL_PER_USER = 20;
const PRESENCE_EVERY_MS = 30_000;
const fill = pLimit(4);

/**
 * What the app shows, kept from the client library's events. React reads it
 * through `subscribe`/`snapshot` (useSyncExternalStore); every change makes a
 * new snapshot.
 */
export class AppModel {
  /** Every status seen on a `user:` channel; the feed is those by me and the people I follow. */
  private readonly statuses = new Timeline<Status>();
  private readonly inbox = new Timeline<Notification>();
  private readonly known = new Map<string, Status>();
  private readonly threads = new Map<string, Timeline<Status>>();
  private following: string[] = [];
  private presence = new Map<string, Presence>();
  private openThread: string | undefined;
  /** Notifications up to this id are read; undefined until the inbox's first page is in. */
  private readUpTo: string | undefined;
  private problem: string | undefined;
  private connection: StateChange = { state: 'idle' };
  private listeners = new Set<() => void>();
  private current: Snapshot;
  private presenceTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly client: UpdraftClient,
    readonly me: string,
  ) {
    this.current = this.build();
    client.events.on('state', (change) => {
      this.connection = change;
      this.changed();
      // Presence is asked for while live only: requests made offline would pile up and time out.
      if (change.state === 'live' && this.presenceTimer !== undefined) void this.refreshPresence().catch((error) => this.fail(error));
    });
    client.events.on('status', ({ channel, status }) => this.onStatus(channel, status));
    client.events.on('notification', (notification) => {
      if (this.inbox.add(notification)) {
        if (notification.status) this.remember(notification.status);
        this.changed();
      }
    });
    client.events.on('error', (error) => this.fail(error));
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  snapshot = (): Snapshot => this.current;

  /** Connects, then fills the feed, the inbox and presence; the client keeps them live from there. */
  async start(): Promise<void> {
    await this.client.connect();
    await this.client.subscribe([userChannel(this.me), inboxChannel(this.me)]);
    // Merged, not replaced: a follow made while this was on its way stays.
    this.following = [...new Set([...this.following, ...(await this.client.following())])].sort();
    this.changed();
    const [inbox] = await Promise.all([
      this.client.history(inboxChannel(this.me), { limit: 20 }),
      // A few pages at a time: one request per person followed, so a long follow list must not flood the API.
      ...[this.me, ...this.following].map((user) => fill(() => this.client.history(userChannel(user), { limit: FILL_PER_USER }))),
    ]);
    // What the first page of the inbox held was there before this visit: not news. Anything newer is.
    this.readUpTo = inbox.items[0]?.id ?? cursorAt(0);
    this.changed();
    this.presenceTimer = setInterval(() => {
      if (this.client.state === 'live') void this.refreshPresence().catch((error) => this.fail(error));
    }, PRESENCE_EVERY_MS);
    await this.refreshPresence();
  }

  stop(): void {
    clearInterval(this.presenceTimer);
    this.client.close();
  }

  async post(text: string, replyTo?: string): Promise<Status> {
    const status = await this.client.post(text, replyTo);
    this.onStatus(userChannel(this.me), status);
    return status;
  }

  async follow(user: string): Promise<void> {
    await this.client.follow(user);
    if (!this.following.includes(user)) this.following = [...this.following, user].sort();
    this.changed();
    // Their recent statuses and presence fill in behind: the follow itself is done.
    void Promise.all([this.client.history(userChannel(user), { limit: FILL_PER_USER }), this.refreshPresence()]).catch((error) => this.fail(error));
  }

  async unfollow(user: string): Promise<void> {
    await this.client.unfollow(user);
    this.following = this.following.filter((u) => u !== user);
    this.changed();
  }

  /** Opens a thread beside the feed: live replies, and the latest 100 from history. */
  async showThread(root: string): Promise<void> {
    const previous = this.openThread;
    this.openThread = root;
    if (!this.threads.has(root)) this.threads.set(root, new Timeline());
    this.changed();
    if (previous && previous !== root) await this.client.unsubscribe([threadChannel(previous)]);
    await this.client.subscribe([threadChannel(root)]);
    await this.client.history(threadChannel(root), { limit: 100 });
  }

  async closeThread(): Promise<void> {
    const root = this.openThread;
    this.openThread = undefined;
    this.changed();
    if (root) await this.client.unsubscribe([threadChannel(root)]);
  }

  markRead(): void {
    this.readUpTo = this.inbox.newest(1)[0]?.id ?? this.readUpTo;
    this.changed();
  }

  fail(error: unknown): void {
    this.problem = error instanceof Error ? error.message : String(error);
    this.changed();
  }

  dismissProblem(): void {
    this.problem = undefined;
    this.changed();
  }

  private async refreshPresence(): Promise<void> {
    const users = this.following.slice(0, 100);
    if (users.length === 0) return;
    this.presence = new Map((await this.client.presence(users)).map((p) => [p.user, p]));
    this.changed();
  }

  private onStatus(channel: string, status: Status): void {
    this.remember(status);
    if (channel.startsWith('thread:')) {
      const root = channel.slice('thread:'.length);
      let thread = this.threads.get(root);
      if (!thread) this.threads.set(root, (thread = new Timeline()));
      thread.add(status);
    } else {
      this.statuses.add(status);
    }
    this.changed();
  }

  private remember(status: Status): void {
    this.known.set(status.id, status);
    // A reply we hold belongs to its thread too, whether or not the thread is open.
    if (status.thread) {
      let thread = this.threads.get(status.thread);
      if (!thread) this.threads.set(status.thread, (thread = new Timeline()));
      thread.add(status);
    }
  }

  private changed(): void {
    this.current = this.build();
    for (const listener of this.listeners) listener();
  }

  private build(): Snapshot {
    const root = this.openThread;
    // Filtered here, not on arrival: a status that comes before its author's `followed` reply still shows.
    const shown = new Set([this.me, ...this.following]);
    const feed: Status[] = [];
    const all = this.statuses.items();
    for (let i = all.length - 1; i >= 0 && feed.length < FEED_SIZE; i--) {
      const status = all[i] as Status;
      if (shown.has(status.author)) feed.push(status);
    }
    const readUpTo = this.readUpTo;
    return {
      me: this.me,
      connection: this.connection,
      feed,
      following: this.following,
      presence: this.presence,
      inbox: this.inbox.newest(50),
      unread: readUpTo === undefined ? 0 : this.inbox.items().filter((n) => n.id > readUpTo).length,
      thread: root ? { root, status: this.known.get(root), replies: [...(this.threads.get(root)?.items() ?? [])] } : undefined,
      problem: this.problem,
    };
  }
}
