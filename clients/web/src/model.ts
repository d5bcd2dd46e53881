import pLimit from 'p-limit';
import { cursorAt, ConnectionState, Timeline, UpdraftClient, type StateChange } from '../../../shared/client';
import { inboxChannel, parseChannel, threadChannel, userChannel } from '../../../shared/protocol/channels';
import { Limits } from '../../../shared/protocol/limits';
import type { Notification, Presence, Status } from '../../../shared/protocol/types';
import { messageOf } from './errors';
import { loadReadMark, saveReadMark } from './read-marks';

export interface Snapshot {
  readonly me: string;
  readonly connection: StateChange;
  /** The home feed: the people followed and me, newest first. */
  readonly feed: readonly Status[];
  /** False until the first fill of the feed has answered: an empty feed before then means "loading", not "nothing". */
  readonly feedLoaded: boolean;
  readonly following: readonly string[];
  /** False until the server has said whom I follow. */
  readonly followingLoaded: boolean;
  readonly presence: ReadonlyMap<string, Presence>;
  /** Newest first. */
  readonly inbox: readonly Notification[];
  readonly unread: number;
  /** The thread open in the side view: its root (when known) and replies, oldest first. */
  readonly thread?: { readonly root: string; readonly status?: Status; readonly replies: readonly Status[] };
  /** The last thing that went wrong, for the user to see. */
  readonly problem?: string;
  /** Items missed on the way that the client is fetching now (a gap), for a quiet "catching up" note. */
  readonly catchingUp?: string;
}

const FEED_SIZE = 200;
const FILL_PER_USER = 20;
/**
 * Presence is asked for all the people followed at most this often, as
 * before; it is skipped while the tab is hidden, and events fill the gaps
 * (a reconnection, a follow, the tab shown again, a status from someone).
 */
export const PRESENCE_EVERY_MS = 30_000;
/** A status this recent from someone followed says they are online now, without asking. */
const ONLINE_IF_POSTED_WITHIN_MS = 60_000;
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
  private followingLoaded = false;
  private feedLoaded = false;
  private presence = new Map<string, Presence>();
  private openThread: string | undefined;
  /**
   * Notifications up to this id are read. Kept per user in this browser, so
   * signing in again keeps the count; with no mark yet, every notification
   * held is unread.
   */
  private readUpTo: string;
  private problem: string | undefined;
  /** Gaps being filled, per channel. */
  private readonly gaps = new Map<string, string>();
  private connection: StateChange = { state: ConnectionState.Idle };
  private readonly listeners = new Set<() => void>();
  private current: Snapshot;
  /** Presence polling runs once the first fill is done; until then a refresh would find no one to ask about. */
  private presenceStarted = false;
  private presenceTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the last full presence refresh was asked for (epoch ms). */
  private presenceAskedAt = 0;
  private readonly onVisibility = () => {
    if (!document.hidden && Date.now() - this.presenceAskedAt >= PRESENCE_EVERY_MS) this.refreshPresenceInBackground();
  };

  constructor(
    private readonly client: UpdraftClient,
    readonly me: string,
  ) {
    this.readUpTo = loadReadMark(me) ?? cursorAt(0);
    this.current = this.build();
    client.events.on('state', (change) => {
      this.connection = change;
      this.changed();
      // On every (re)connection: who went on or off line while we were away. Requests made offline would pile up and time out.
      if (change.state === ConnectionState.Live && this.presenceStarted) this.refreshPresenceInBackground();
    });
    client.events.on('status', ({ channel, status }) => this.onStatus(channel, status));
    client.events.on('notification', (notification) => {
      if (this.inbox.add(notification)) {
        if (notification.status) this.remember(notification.status);
        this.changed();
      }
    });
    client.events.on('error', (error) => this.fail(error));
    // A gap is filled in a moment, and said quietly; what could not be filled is a problem the user must see.
    client.events.on('gap', ({ channel, from, to }) => {
      this.gaps.set(channel, `catching up on ${plural(to - from + 1, 'missed item')} of ${channel}`);
      this.changed();
    });
    client.events.on('recovered', ({ channel, lost }) => {
      this.gaps.delete(channel);
      if (lost.length > 0) this.fail(`${plural(lost.length, 'item')} of ${channel} could not be recovered: the server no longer has ${lost.length === 1 ? 'it' : 'them'}`);
      else this.changed();
    });
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  snapshot = (): Snapshot => this.current;

  /** Connects, then fills the feed, the inbox and presence; the client keeps them live from there. */
  async start(): Promise<void> {
    document.addEventListener('visibilitychange', this.onVisibility);
    await this.client.connect();
    await this.client.subscribe([userChannel(this.me), inboxChannel(this.me)]);
    // Merged, not replaced: a follow made while this was on its way stays.
    this.following = [...new Set([...this.following, ...(await this.client.following())])].sort();
    this.followingLoaded = true;
    this.changed();
    await Promise.all([
      this.client.history(inboxChannel(this.me), { limit: 20 }),
      // A few pages at a time: one request per person followed, so a long follow list must not flood the API.
      ...[this.me, ...this.following].map((user) => fill(() => this.client.history(userChannel(user), { limit: FILL_PER_USER }))),
    ]);
    this.feedLoaded = true;
    this.changed();
    this.presenceStarted = true;
    await this.refreshPresence();
  }

  stop(): void {
    document.removeEventListener('visibilitychange', this.onVisibility);
    clearTimeout(this.presenceTimer);
    this.presenceStarted = false;
    this.client.close();
  }

  /** "Retry now" while reconnecting. */
  reconnectNow(): void {
    this.client.reconnectNow();
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
    // Their recent statuses and presence fill in behind: the follow itself is done. Presence for them
    // alone, and only once the first full ask is done: until then that ask includes them.
    void Promise.all([
      this.client.history(userChannel(user), { limit: FILL_PER_USER }),
      this.presenceStarted ? this.askPresence([user]) : undefined,
    ]).catch((error: unknown) => {
      this.fail(error);
    });
  }

  async unfollow(user: string): Promise<void> {
    await this.client.unfollow(user);
    this.following = this.following.filter((u) => u !== user);
    this.presence.delete(user);
    this.presence = new Map(this.presence);
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
    const newest = this.inbox.newest(1)[0]?.id;
    if (newest !== undefined && newest > this.readUpTo) {
      this.readUpTo = newest;
      saveReadMark(this.me, newest);
    }
    this.changed();
  }

  fail(error: unknown): void {
    this.problem = messageOf(error);
    this.changed();
  }

  dismissProblem(): void {
    this.problem = undefined;
    this.changed();
  }

  private refreshPresenceInBackground(): void {
    this.refreshPresence().catch((error: unknown) => {
      this.fail(error);
    });
  }

  /**
   * Asks for everyone followed (the first 100: one request's worth), then
   * schedules the next ask. The periodic ask is skipped while the tab is
   * hidden or the client is not live; showing the tab again asks at once if
   * one was missed.
   */
  private async refreshPresence(): Promise<void> {
    clearTimeout(this.presenceTimer);
    this.presenceTimer = setTimeout(() => {
      if (this.client.state === ConnectionState.Live && !document.hidden) this.refreshPresenceInBackground();
      else this.presenceTimer = undefined;
    }, PRESENCE_EVERY_MS);
    // Known as of now, also when there is no one to ask about.
    this.presenceAskedAt = Date.now();
    const users = this.following.slice(0, Limits.presenceMaxUsers);
    if (users.length === 0) return;
    const answer = await this.client.presence(users);
    this.presence = new Map(answer.map((p) => [p.user, p]));
    this.changed();
  }

  /** Presence for a few people (one just followed), merged into what is known. */
  private async askPresence(users: readonly string[]): Promise<void> {
    const answer = await this.client.presence(users);
    this.presence = new Map([...this.presence, ...answer.map((p): [string, Presence] => [p.user, p])]);
    this.changed();
  }

  /**
   * Someone followed posted just now, after they were last seen leaving:
   * they are online. Shown at once, with no request; the next refresh
   * corrects it if they have gone since.
   */
  private inferOnline(status: Status): void {
    // Also before the first full ask: it can be seconds away, behind the feed's first fill.
    if (!this.following.includes(status.author)) return;
    const posted = Date.parse(status.createdAt);
    if (!(Date.now() - posted < ONLINE_IF_POSTED_WITHIN_MS)) return;
    const known = this.presence.get(status.author);
    if (known?.online) return;
    if (known?.lastSeen !== undefined && Date.parse(known.lastSeen) >= posted) return;
    this.presence = new Map(this.presence).set(status.author, { user: status.author, online: true, lastSeen: status.createdAt });
  }

  private onStatus(channel: string, status: Status): void {
    this.remember(status);
    const parsed = parseChannel(channel);
    if (parsed?.kind === 'thread') {
      let thread = this.threads.get(parsed.key);
      if (!thread) this.threads.set(parsed.key, (thread = new Timeline()));
      thread.add(status);
    } else {
      this.statuses.add(status);
      this.inferOnline(status);
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
      const status = all[i];
      if (status !== undefined && shown.has(status.author)) feed.push(status);
    }
    const readUpTo = this.readUpTo;
    return {
      me: this.me,
      connection: this.connection,
      feed,
      feedLoaded: this.feedLoaded,
      following: this.following,
      followingLoaded: this.followingLoaded,
      presence: this.presence,
      inbox: this.inbox.newest(50),
      unread: this.inbox.items().filter((n) => n.id > readUpTo).length,
      thread: root ? { root, status: this.known.get(root), replies: [...(this.threads.get(root)?.items() ?? [])] } : undefined,
      problem: this.problem,
      ...(this.gaps.size === 0 ? {} : { catchingUp: [...this.gaps.values()].join('; ') }),
    };
  }
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
