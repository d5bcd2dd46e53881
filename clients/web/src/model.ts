import { cursorAt, ConnectionState, Timeline, UpdraftClient, type StateChange } from '../../../shared/client';
import { inboxChannel, parseChannel, threadChannel, userChannel } from '../../../shared/protocol/channels';
import { Limits } from '../../../shared/protocol/limits';
import type { Notification, Presence, Status } from '../../../shared/protocol/types';
import { messageOf } from './errors';
import { loadReadMark, saveReadMark } from './read-marks';

/** A status as the app shows it, with what it takes from other statuses. */
export interface Post {
  readonly status: Status;
  /** Whom a reply answers, once the status it answers is known. */
  readonly replyingTo?: string;
  /** A root's replies, as far as known; undefined on a reply. */
  readonly replyCount?: number;
}

/**
 * One entry of the home feed, FriendFeed's way: a thread's root with the
 * replies held for it, placed by the thread's newest status in the feed, so a
 * reply from someone followed brings its entry back to the top.
 */
export interface FeedEntry {
  readonly root: string;
  /** The root, once known: a reply's root may be fetched after the reply arrives. */
  readonly post?: Post;
  /** The root no longer exists (or never did): the server said so. */
  readonly missing: boolean;
  /** Every reply held for the thread, oldest first; the view shows the last few. */
  readonly replies: readonly Post[];
  /** Replies the thread has in all, held or not: at least `replies.length`. */
  readonly replyCount: number;
}

/**
 * `loading` until the first page answers; `ready` with more to page to;
 * `loading-more` while a page is on its way; `more-failed` when one failed
 * (paging waits for the user to try again); `end` once there is no more.
 */
export type FeedState = 'loading' | 'ready' | 'loading-more' | 'more-failed' | 'end';

/** The thread the address names (`#/status/<id>`). */
export interface ThreadSnapshot {
  /** The status the address names: the root or one of its replies. */
  readonly focus: string;
  /** Undefined until the status named is known (a reply's root is found through it). */
  readonly root?: string;
  readonly post?: Post;
  /** Oldest first. */
  readonly replies: readonly Post[];
  readonly replyCount: number;
  /** The root and replies are on their way. */
  readonly loading: boolean;
  /** No status has the id the address names. */
  readonly missing: boolean;
}

export interface Snapshot {
  readonly me: string;
  readonly connection: StateChange;
  /** The home feed, newest activity first. */
  readonly feed: readonly FeedEntry[];
  readonly feedState: FeedState;
  /** The newest status in the feed, to announce. */
  readonly newest?: Status;
  readonly following: readonly string[];
  /** False until the server has said whom I follow. */
  readonly followingLoaded: boolean;
  readonly presence: ReadonlyMap<string, Presence>;
  /** Newest first. */
  readonly inbox: readonly Notification[];
  readonly unread: number;
  /** Notifications up to this id are read. */
  readonly readUpTo: string;
  readonly thread?: ThreadSnapshot;
  /** The last thing that went wrong, for the user to see. */
  readonly problem?: string;
  /** Items missed on the way that the client is fetching now (a gap), for a quiet "catching up" note. */
  readonly catchingUp?: string;
}

/** Statuses per page of the feed: a phone screen and a half, and one request's worth under 128 KB even for long texts. */
export const FEED_PAGE = 20;
/** Replies a thread view loads: the protocol's most for one `history` page. */
const THREAD_PAGE = Limits.historyMaxLimit;
/** Recent statuses of someone just followed, shown at once. */
const FILL_ON_FOLLOW = 20;
/**
 * Presence is asked for all the people followed at most this often, as
 * before; it is skipped while the tab is hidden, and events fill the gaps
 * (a reconnection, a follow, the tab shown again, a status from someone).
 */
export const PRESENCE_EVERY_MS = 30_000;
/** A status this recent from someone followed says they are online now, without asking. */
const ONLINE_IF_POSTED_WITHIN_MS = 60_000;

/**
 * What the app shows, kept from the client library's events. React reads it
 * through `subscribe`/`snapshot` (useSyncExternalStore); every change makes a
 * new snapshot.
 */
export class AppModel {
  /** Every status seen on a `user:` channel (mine and those of the people I follow): the feed is made of these. */
  private readonly statuses = new Timeline<Status>();
  private readonly inbox = new Timeline<Notification>();
  /** Every status seen, by id: a reply's root and parent are looked up here. */
  private readonly known = new Map<string, Status>();
  /** Replies held, per root. */
  private readonly threads = new Map<string, Timeline<Status>>();
  /** Ids the server said no status has. */
  private readonly missing = new Set<string>();
  /** `get` requests on their way, per id asked: a second ask waits for the first. */
  private readonly asking = new Map<string, Promise<void>>();
  /**
   * A root's reply count as the server last gave it, and when: replies held
   * with a newer id came after the count, and are added to it (give or take
   * the skew between this clock and the server's).
   */
  private readonly counted = new Map<string, { readonly n: number; readonly at: string }>();
  private following: string[] = [];
  private followingLoaded = false;
  /** People unfollowed here (and not followed again): their statuses leave the feed, and stay held should they be followed again. */
  private readonly unfollowed = new Set<string>();
  private feedState: FeedState = 'loading';
  /** Pages of statuses on their way (inBatch): their replies' context is fetched once each page is in. */
  private batches = 0;
  /** The cursor for the next page of the feed. */
  private feedNext: string | undefined;
  /**
   * The oldest status of the pages loaded: older statuses held (from a
   * follow's first fill, say) wait for the page that holds them, so the feed
   * never shows a status below one it has not loaded yet.
   */
  private feedFloor: string | undefined;
  private presence = new Map<string, Presence>();
  private openThread: { readonly focus: string; readonly root?: string; readonly loading: boolean; readonly missing: boolean } | undefined;
  /** The thread channel this client is subscribed to, for the open thread. */
  private watched: string | undefined;
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
  /** The first fill failed (the server went away during it, longer than a request waits): it is made again at the next connection. */
  private fillAgain = false;
  /** The fill has been made again once while live: a second failure while live is the server's answer, not its absence. */
  private refilled = false;
  /** What the failed fill said, taken down once a fill succeeds. */
  private fillProblem: string | undefined;
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
      if (change.state === ConnectionState.Live && this.fillAgain) void this.fill();
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

  /**
   * Connects, then fills the feed (one `feed` request), the inbox and the
   * follow list at once, then presence; the client keeps them live from there.
   */
  async start(): Promise<void> {
    document.addEventListener('visibilitychange', this.onVisibility);
    await this.client.connect();
    await this.fill();
  }

  /**
   * The first fill. A request waits 20 s at most, across reconnections: when the server is away
   * longer, the fill fails, which is said, and it is made again once the client is live (at once
   * if it already is), rather than leaving the feed loading for good.
   */
  private async fill(): Promise<void> {
    this.fillAgain = false;
    try {
      await Promise.all([
        this.client.subscribe([userChannel(this.me), inboxChannel(this.me)]),
        this.client.history(inboxChannel(this.me), { limit: 20 }),
        this.loadFollowing(),
        this.feedState === 'loading' ? this.loadFeedPage() : Promise.resolve(),
      ]);
    } catch (error) {
      this.fail(error);
      this.fillProblem = this.problem;
      this.fillAgain = true;
      // Live again already (the failure was the wait's end): one more try now. Another failure while
      // live is the server's answer, not its absence: it waits for the next connection.
      if (this.client.state === ConnectionState.Live && !this.refilled) {
        this.refilled = true;
        void this.fill();
      }
      return;
    }
    this.refilled = false;
    if (this.fillProblem !== undefined && this.problem === this.fillProblem) this.problem = undefined;
    this.fillProblem = undefined;
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

  /** The next page of the feed, when there is one and none is on its way (the end of the list came into view). Bound: the view passes it around. */
  loadMore = (): void => {
    if (this.feedState !== 'ready' && this.feedState !== 'more-failed') return;
    this.feedState = 'loading-more';
    this.changed();
    this.loadFeedPage().catch((error: unknown) => {
      this.feedState = 'more-failed';
      this.fail(error);
    });
  };

  async post(text: string, replyTo?: string): Promise<Status> {
    const status = await this.client.post(text, replyTo);
    this.onStatus(userChannel(this.me), status);
    return status;
  }

  async follow(user: string): Promise<void> {
    await this.client.follow(user);
    this.unfollowed.delete(user);
    if (!this.following.includes(user)) this.following = [...this.following, user].sort();
    this.changed();
    // Their recent statuses and presence fill in behind: the follow itself is done. Presence for them
    // alone, and only once the first full ask is done: until then that ask includes them.
    void Promise.all([
      this.inBatch(this.client.history(userChannel(user), { limit: FILL_ON_FOLLOW })),
      this.presenceStarted ? this.askPresence([user]) : undefined,
    ]).catch((error: unknown) => {
      this.fail(error);
    });
  }

  async unfollow(user: string): Promise<void> {
    await this.client.unfollow(user);
    this.unfollowed.add(user);
    this.following = this.following.filter((u) => u !== user);
    this.presence.delete(user);
    this.presence = new Map(this.presence);
    this.changed();
  }

  /**
   * Shows the thread a status belongs to, live: its root and the latest 100
   * replies. A status already held names its root, and the thread loads with
   * one `history` (and a `get` for the root if it is not held). An id not held
   * is taken for a root, as a link usually names one: `get` and `history` go
   * at once, and if it was a reply after all, its root's thread loads next.
   */
  async showStatus(id: string): Promise<void> {
    const held = this.known.get(id);
    const guess = held ? rootOf(held) : id;
    this.openThread = { focus: id, ...(held ? { root: guess } : {}), loading: true, missing: false };
    this.changed();
    await Promise.all([
      this.resolve(held?.replyTo === undefined ? [guess] : [guess, held.replyTo]),
      this.client.history(threadChannel(guess), { limit: THREAD_PAGE }),
      // Live once the root is certain: a reply's own thread channel never carries anything.
      held ? this.watch(guess) : undefined,
    ]);
    if (!this.isOpen(id)) return; // another status was opened meanwhile
    const status = this.known.get(id);
    if (!status) {
      this.openThread = { focus: id, loading: false, missing: true };
      this.changed();
      return;
    }
    const root = rootOf(status);
    this.openThread = { focus: id, root, loading: root !== guess, missing: false };
    this.changed();
    await Promise.all([
      root === guess ? undefined : this.client.history(threadChannel(root), { limit: THREAD_PAGE }),
      this.watch(root),
      this.resolve([root]),
    ]);
    // The status it answers, when that is older than the 100 replies loaded.
    if (status.replyTo !== undefined) await this.resolve([status.replyTo]);
    if (this.isOpen(id)) this.openThread = { focus: id, root, loading: false, missing: false };
    this.changed();
  }

  /** A method, not a field read: the thread open may have changed while a request was on its way. */
  private isOpen(id: string): boolean {
    return this.openThread?.focus === id;
  }

  async closeThread(): Promise<void> {
    this.openThread = undefined;
    this.changed();
    await this.watch(undefined);
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

  private async loadFollowing(): Promise<void> {
    // Merged, not replaced: a follow made while this was on its way stays.
    this.following = [...new Set([...this.following, ...(await this.client.following())])].sort();
    this.followingLoaded = true;
    this.changed();
  }

  /**
   * A page of the feed, older than the pages loaded (the first when none
   * is), with the roots and parents of its replies that are not held yet (one
   * `get`), so a page shows complete.
   */
  private async loadFeedPage(): Promise<void> {
    const page = await this.inBatch(this.client.feed(this.feedNext === undefined ? { limit: FEED_PAGE } : { before: this.feedNext, limit: FEED_PAGE }));
    this.noteCounts(page.items, page.replyCounts);
    this.feedNext = page.next;
    this.feedFloor = page.items.at(-1)?.id ?? this.feedFloor;
    this.feedState = page.next === undefined ? 'end' : 'ready';
    this.changed();
  }

  /**
   * A page of statuses (of the feed, of someone just followed): each reaches
   * `onStatus` as it is handed over, and the roots and parents of its replies
   * not held are fetched once for the page, in one `get`, rather than one per
   * reply. A reply that arrived live meanwhile is among them.
   */
  private async inBatch<T>(request: Promise<T>): Promise<T> {
    this.batches++;
    let answer: T;
    try {
      answer = await request;
    } finally {
      this.batches--;
    }
    const unknown = this.statuses.items().flatMap((status) => (status.replyTo === undefined ? [] : [rootOf(status), status.replyTo]));
    await this.resolve(unknown);
    return answer;
  }

  /** Fetches the statuses among these ids not yet held, in one `get`; a failure is shown, and leaves them unknown. */
  private async resolve(ids: readonly string[]): Promise<void> {
    const wanted = [...new Set(ids)].filter((id) => !this.known.has(id) && !this.missing.has(id));
    const asked = wanted.filter((id) => !this.asking.has(id));
    const request =
      asked.length === 0
        ? undefined
        : this.client.get(asked).then(
            ({ statuses, missing, replyCounts }) => {
              for (const status of statuses) this.remember(status);
              for (const id of missing) this.missing.add(id);
              this.noteCounts(statuses, replyCounts);
            },
            (error: unknown) => {
              this.fail(error);
            },
          );
    if (request) for (const id of asked) this.asking.set(id, request);
    // This request, and those already on their way for the others wanted.
    const pending = new Set<Promise<void>>();
    for (const id of wanted) {
      const asking = this.asking.get(id);
      if (asking) pending.add(asking);
    }
    await Promise.all(pending);
    for (const id of asked) this.asking.delete(id);
    if (request) this.changed();
  }

  private noteCounts(statuses: readonly Status[], counts: Readonly<Record<string, number>>): void {
    const at = cursorAt(Date.now());
    for (const status of statuses) if (status.replyTo === undefined) this.counted.set(status.id, { n: counts[status.id] ?? 0, at });
  }

  /** Subscribes to one thread's channel (the open thread's), leaving the one before. */
  private async watch(root: string | undefined): Promise<void> {
    const previous = this.watched;
    if (previous === root) return;
    this.watched = root;
    await Promise.all([
      previous === undefined ? undefined : this.client.unsubscribe([threadChannel(previous)]),
      root === undefined ? undefined : this.client.subscribe([threadChannel(root)]),
    ]);
  }

  private onStatus(channel: string, status: Status): void {
    this.remember(status);
    if (parseChannel(channel)?.kind === 'user') {
      this.statuses.add(status);
      this.inferOnline(status);
      // A reply from someone followed to a thread not held: its root (and parent) come in behind it.
      if (this.batches === 0 && status.replyTo !== undefined) void this.resolve([rootOf(status), status.replyTo]);
    }
    this.changed();
  }

  /** Holds a status, and a reply in its thread too, whether or not the thread is open. */
  private remember(status: Status): void {
    this.known.set(status.id, status);
    if (status.thread !== undefined && status.thread !== status.id) {
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
    const feed = this.buildFeed();
    const readUpTo = this.readUpTo;
    return {
      me: this.me,
      connection: this.connection,
      feed,
      feedState: this.feedState,
      newest: this.newestShown(),
      following: this.following,
      followingLoaded: this.followingLoaded,
      presence: this.presence,
      inbox: this.inbox.newest(50),
      unread: this.inbox.items().filter((n) => n.id > readUpTo).length,
      readUpTo,
      thread: this.buildThread(),
      problem: this.problem,
      ...(this.gaps.size === 0 ? {} : { catchingUp: [...this.gaps.values()].join('; ') }),
    };
  }

  /** Entries by their newest status in the feed, down to the oldest page loaded. */
  private buildFeed(): FeedEntry[] {
    if (this.feedState === 'loading') return [];
    const floor = this.feedState === 'end' ? undefined : this.feedFloor;
    const roots = new Set<string>();
    const all = this.statuses.items();
    for (let i = all.length - 1; i >= 0; i--) {
      const status = all[i];
      if (status === undefined || (floor !== undefined && status.id < floor)) break;
      // Filtered here, not on arrival: following them again shows what was held.
      if (!this.unfollowed.has(status.author)) roots.add(rootOf(status));
    }
    return [...roots].map((root) => {
      const replies = this.repliesOf(root);
      const status = this.known.get(root);
      return {
        root,
        ...(status ? { post: this.postOf(status) } : {}),
        missing: this.missing.has(root),
        replies: replies.map((reply) => this.postOf(reply)),
        replyCount: this.replyCount(root, replies),
      };
    });
  }

  private newestShown(): Status | undefined {
    const all = this.statuses.items();
    for (let i = all.length - 1; i >= 0; i--) {
      const status = all[i];
      if (status !== undefined && !this.unfollowed.has(status.author)) return status;
    }
    return undefined;
  }

  private buildThread(): ThreadSnapshot | undefined {
    const open = this.openThread;
    if (!open) return undefined;
    const { root } = open;
    const replies = root === undefined ? [] : this.repliesOf(root);
    const status = root === undefined ? undefined : this.known.get(root);
    return {
      ...open,
      ...(status ? { post: this.postOf(status) } : {}),
      replies: replies.map((reply) => this.postOf(reply)),
      replyCount: root === undefined ? 0 : this.replyCount(root, replies),
      // The root may be gone while a reply to it remains.
      missing: open.missing || (!open.loading && root !== undefined && this.missing.has(root) && replies.length === 0),
    };
  }

  private postOf(status: Status): Post {
    const parent = status.replyTo === undefined ? undefined : this.known.get(status.replyTo);
    return {
      status,
      ...(parent ? { replyingTo: parent.author } : {}),
      ...(status.replyTo === undefined ? { replyCount: this.replyCount(status.id, this.repliesOf(status.id)) } : {}),
    };
  }

  private repliesOf(root: string): readonly Status[] {
    return this.threads.get(root)?.items() ?? [];
  }

  private replyCount(root: string, replies: readonly Status[]): number {
    const counted = this.counted.get(root);
    if (!counted) return replies.length;
    const since = replies.filter((reply) => reply.id > counted.at).length;
    return Math.max(replies.length, counted.n + since);
  }
}

/** A status's thread: its root's id (its own, for a root). */
const rootOf = (status: Status): string => status.thread ?? status.id;

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
