import mitt, { type Emitter } from 'mitt';
import { parseChannel, userChannel } from '../protocol/channels';
import { ErrorCode } from '../protocol/codes';
import { parseServerFrame } from '../protocol/frames';
import { Limits } from '../protocol/limits';
import type { ChannelEntry, ChannelName, Notification, Position, Presence, ReplyCounts, ServerFrame, Status, StatusId, UserId } from '../protocol/types';
import { encodeTime } from 'ulid';
import { backoffDelay, type BackoffOptions } from './backoff';
import { ClientErrorCode, ConnectionState, type UpdraftErrorCode } from './codes';

/**
 * The part of the WHATWG WebSocket that the client uses: the browser's own,
 * and the `ws` package's in Node, both fit.
 */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type SocketFactory = new (url: string) => SocketLike;

export interface StateChange {
  readonly state: ConnectionState;
  /** Failed attempts in a row, while reconnecting. */
  readonly attempt?: number;
  /** When reconnecting and waiting: how long until the next attempt. Absent once the attempt is under way. */
  readonly delayMs?: number;
  /** When reconnecting and waiting: when the next attempt starts (epoch ms), for a countdown; `reconnectNow()` brings it forward. */
  readonly nextAttemptAt?: number;
  /** Why the last connection ended, when known (close code and reason). */
  readonly reason?: string;
}

// A type, not an interface: mitt requires `Record<EventType, unknown>`, which only a type alias
// satisfies (interfaces get no implicit index signature).
// eslint-disable-next-line @typescript-eslint/consistent-type-definitions
export type ClientEvents = {
  state: StateChange;
  /** A status on a channel, once per status id and channel (live, missed or paged in), with its position when the server gives one. */
  status: { readonly channel: ChannelName; readonly status: Status; readonly pos?: Position };
  notification: Notification;
  /**
   * Items `from`..`to` of a channel were missed (an item arrived at a later position): the client
   * is fetching them with `history`, and holds what comes after until they are in.
   */
  gap: Gap;
  /** A gap is closed: what could be fetched was handed over in order; `lost` lists the positions the store no longer holds (empty when nothing was lost). */
  recovered: Gap & { readonly lost: readonly Position[] };
  /** An error frame that answered no request of this client, or a failure while catching up. */
  error: Error;
};

/** Positions `from` to `to` (inclusive) of a channel. */
export interface Gap {
  readonly channel: ChannelName;
  readonly from: Position;
  readonly to: Position;
}

export interface ClientOptions {
  /** The WebSocket URL without the token: the `WebSocketUrl` output, or the local stack's `wsUrl`. */
  readonly url: string;
  /** A token, or a function that returns a fresh one: it is called before every connection attempt. */
  readonly token: string | (() => string | Promise<string>);
  /** @default globalThis.WebSocket (browsers, Node 22); pass `ws`'s WebSocket on Node 20 */
  readonly WebSocket?: SocketFactory;
  /**
   * A `ping` goes once the client has sent nothing, or heard nothing, for this long (less up to
   * 10%, drawn at random): it keeps API Gateway's 10-minute idle cut away and proves the connection
   * alive. A client that sends and hears often enough never pings. @default 540000 (9 minutes)
   */
  readonly heartbeatMs?: number;
  /**
   * A heartbeat with no frame at all from the server within this long (any frame proves the
   * connection alive, not only its pong) is sent again; the connection is dropped and replaced
   * once HEARTBEAT_TRIES have gone unanswered in a row. @default 15000
   */
  readonly pongTimeoutMs?: number;
  /** A request unanswered this long rejects, even across reconnections. @default 20000 */
  readonly requestTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  /** For tests. @default Math.random */
  readonly random?: () => number;
}

/**
 * A request that failed: an `error` frame from the server (`code` is one of
 * docs/protocol.md's `ErrorCode`s) or the client's own verdict (a `ClientErrorCode`).
 */
export class UpdraftError extends Error {
  constructor(
    readonly code: UpdraftErrorCode,
    message: string,
    /** How long the server asks to wait before trying again, when it says (`rate_limited`). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'UpdraftError';
  }
}

/** An error reply from the server (not a timeout, not a dropped connection). */
export const isRefusal = (error: unknown): error is UpdraftError => error instanceof UpdraftError && SERVER_CODES.has(error.code);
const SERVER_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

type Reply<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>;
const isReply = <T extends ServerFrame['type']>(frame: ServerFrame, type: T): frame is Reply<T> => frame.type === type;

interface Pending {
  readonly frame: Record<string, unknown> & { id: string };
  readonly resolve: (frame: ServerFrame) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
  /** Sent again on the next connection if this one drops before the reply. */
  readonly resend: boolean;
}

const OPEN = 1;
/** Heartbeats in a row with nothing heard back before a connection is given up as dead. */
export const HEARTBEAT_TRIES = 3;
const SUBSCRIBE_BATCH = 50;
const PAGE_LIMIT = 100;
/** Ids one `get` may ask for (docs/protocol.md). */
const GET_BATCH = 100;
/** Ids remembered per channel for dedupe: duplicates come from resume overlap and redelivery, both recent. */
const SEEN_PER_CHANNEL = 1_000;

/**
 * A client of the Updraft protocol that survives the network: it reconnects
 * with backoff, catches up on every channel it follows from the last status it
 * saw, and hands each status over once.
 *
 * Requests made while disconnected wait for the next connection (up to
 * `requestTimeoutMs`); requests in flight when a connection drops are sent
 * again with the same `id`, which the server treats as a retry (a `post` is
 * never stored twice).
 */
export class UpdraftClient {
  readonly events: Emitter<ClientEvents> = mitt<ClientEvents>();
  private socket: SocketLike | undefined;
  private current: ConnectionState = ConnectionState.Idle;
  private lastChange: StateChange = { state: ConnectionState.Idle };
  /** Counts connection attempts; work begun for an older one stops when it sees a newer. */
  private generation = 0;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  /** When a frame was last sent and last received on the current connection (epoch ms). */
  private lastSentAt = 0;
  private lastHeardAt = 0;
  /** Heartbeats sent since the server was last heard from. */
  private unanswered = 0;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly pending = new Map<string, Pending>();
  /** Channels this client wants, with the newest id seen on each (the resume cursor). */
  private readonly cursors = new Map<ChannelName, StatusId>();
  /**
   * Channels not yet caught up on this connection, with what arrived live on
   * them meanwhile. Those items are held until the catch-up has handed over the
   * older ones, so a channel's items come out in order; they do not move its
   * cursor, which still marks where the catch-up started.
   */
  private readonly catchingUp = new Map<ChannelName, ChannelEntry[]>();
  /**
   * Per channel, the position of the last item handed over in an unbroken run (the server's
   * positions: 1, 2, 3... in commit order). An item past the next one shows a gap; one at or
   * below it was handed over already. Unknown until a catch-up or a reply tells it.
   */
  private readonly positions = new Map<ChannelName, Position>();
  /** Channels given up (unfollowed, unsubscribed); a late status on one does not bring it back. */
  private readonly dropped = new Set<ChannelName>();
  /** The inbox among the channels, if subscribed: notifications arrive without their channel. */
  private inbox: ChannelName | undefined;
  /** Ids already handed over, per channel, so a duplicate delivery is dropped. */
  private readonly seen = new Map<ChannelName, Set<string>>();
  private readonly prefix = Math.random().toString(36).slice(2, 10);
  private counter = 0;

  constructor(private readonly options: ClientOptions) {}

  get state(): ConnectionState {
    return this.current;
  }

  /** The channels resubscribed on every reconnection, with their cursors. */
  get channels(): ReadonlyMap<ChannelName, StatusId> {
    return this.cursors;
  }

  /**
   * Opens the connection; resolves once it is live (caught up). Rejects with
   * code `closed` if `close()` comes first, or if the client cannot work at
   * all (no WebSocket implementation, say): failures to reach the server are
   * retried, not reported here.
   */
  connect(): Promise<void> {
    if (this.current === ConnectionState.Idle || this.current === ConnectionState.Closed) {
      this.setState({ state: ConnectionState.Connecting });
      this.attemptNow();
    }
    return this.whenLive();
  }

  /** Resolves when the client is next live (at once if it is). */
  whenLive(): Promise<void> {
    if (this.current === ConnectionState.Live) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onState = (change: StateChange) => {
        if (change.state === ConnectionState.Live || change.state === ConnectionState.Closed) {
          this.events.off('state', onState);
          if (change.state === ConnectionState.Live) resolve();
          else reject(new UpdraftError(ClientErrorCode.Closed, change.reason === undefined ? 'client closed' : `client closed: ${change.reason}`));
        }
      };
      this.events.on('state', onState);
    });
  }

  /**
   * While reconnecting, makes the next attempt now instead of when its
   * backoff ends (a "retry now" button). The failure count is kept, so if this
   * attempt fails too, the next delay is as long as it would have been.
   * Returns whether an attempt was started: in any other state there is nothing to bring forward.
   */
  reconnectNow(): boolean {
    // Only while waiting: an attempt already under way (its token or handshake pending) is left to finish.
    if (this.current !== ConnectionState.Reconnecting || this.retryTimer === undefined) return false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.attemptNow();
    return true;
  }

  /** Closes for good: no reconnection, and waiting requests reject. */
  close(reason?: string): void {
    this.generation += 1;
    this.setState(reason === undefined ? { state: ConnectionState.Closed } : { state: ConnectionState.Closed, reason });
    clearTimeout(this.retryTimer);
    this.stopHeartbeat();
    const socket = this.detach();
    socket?.close(1000, 'client closed');
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new UpdraftError(ClientErrorCode.Closed, 'client closed'));
      this.pending.delete(id);
    }
  }

  /**
   * Posts a status; a reply with `replyTo`. Every post is sent with a request id, so that one sent
   * again after a reconnect is stored once. Pass `options.id` to choose it, for a post a program may
   * repeat itself (after a crash, say): the same id within 10 minutes answers the first status again,
   * and the same id with another text or `replyTo` rejects with code `conflict`, storing nothing.
   */
  post(text: string, replyTo?: StatusId, options: { readonly id?: string } = {}): Promise<Status> {
    return this.request('post', replyTo === undefined ? { text } : { text, replyTo }, 'posted', true, options.id).then((r) => r.status);
  }

  /**
   * Subscribes to channels and keeps them across reconnections. A channel
   * with a cursor (given here, or the newest id already seen) gets what it
   * missed since then, paged to the end, before this resolves. A refused
   * subscription (`forbidden`, `bad_request`) rejects and is not kept.
   */
  async subscribe(channels: readonly ChannelName[], since: Readonly<Record<ChannelName, StatusId>> = {}): Promise<void> {
    for (const channel of channels) {
      this.dropped.delete(channel);
      this.track(channel, since[channel]);
    }
    try {
      await this.catchUp(channels, this.generation, true);
    } catch (error) {
      if (isRefusal(error)) {
        for (const channel of channels) this.forget(channel);
        throw error;
      }
      if (!(error instanceof UpdraftError) || error.code !== ClientErrorCode.Disconnected) throw error;
      // The connection dropped: the next one catches these channels up with the rest.
      await this.whenLive();
    }
  }

  /**
   * Catches every channel up from its cursor now, as a reconnection would, without reconnecting:
   * a gap at the very end of a channel (its last item lost on the way, with nothing after it to
   * show the gap) is found and filled. It costs what a reconnection's catch-up costs (a `subscribe`
   * with `since` per 50 channels, charged per channel), so call it when it matters: after the app
   * was in the background a while, say, not on a timer.
   */
  async sync(): Promise<void> {
    await this.whenLive();
    await this.catchUp([...this.cursors.keys()], this.generation, false);
  }

  async unsubscribe(channels: readonly ChannelName[]): Promise<void> {
    for (const channel of channels) this.forget(channel);
    await this.request('unsubscribe', { channels }, 'unsubscribed');
  }

  /**
   * One page of a channel's history. Items also reach `status`/`notification`
   * listeners, deduplicated. The newest page of a subscribed channel (no
   * cursor given) moves its resume cursor to the newest item.
   */
  async history(
    channel: ChannelName,
    page: { readonly before?: StatusId; readonly after?: StatusId; readonly limit?: number } = {},
  ): Promise<Reply<'history'>> {
    const reply = await this.request('history', { channel, ...page }, 'history');
    const contiguous = page.before === undefined && (page.after === undefined || page.after === this.cursors.get(channel));
    for (const item of reply.items) this.deliver(channel, item, contiguous && this.mayAdvance(channel));
    return reply;
  }

  /**
   * One page of the home feed: the user's statuses and those of everyone they follow, newest
   * first; pass `next` as `before` for the page after. Items also reach `status` listeners, on
   * their authors' `user:` channels, deduplicated. The newest page holds each author's newest
   * item, if any of theirs: it moves those channels' resume cursors and positions as the newest
   * page of their history would, so a reconnection resumes the feed from there.
   */
  async feed(
    page: { readonly before?: StatusId; readonly limit?: number } = {},
  ): Promise<{ items: (Status & { readonly pos?: Position })[]; next?: StatusId; replyCounts: ReplyCounts }> {
    const reply = await this.request('feed', { ...page }, 'feed');
    const newest = page.before === undefined;
    for (const item of reply.items) {
      const channel = userChannel(item.author);
      if (newest && !this.dropped.has(channel)) this.track(channel);
      this.deliver(channel, item, newest && this.mayAdvance(channel));
    }
    return { items: [...reply.items], ...(reply.next === undefined ? {} : { next: reply.next }), replyCounts: reply.replyCounts ?? {} };
  }

  /** Statuses by id, in the order asked; `missing` names ids no status has. Ids over one request's limit are asked in turn. */
  async get(ids: readonly StatusId[]): Promise<{ statuses: Status[]; missing: StatusId[]; replyCounts: ReplyCounts }> {
    const statuses: Status[] = [];
    const missing: StatusId[] = [];
    const replyCounts: Record<StatusId, number> = {};
    let wanted = [...new Set(ids)];
    while (wanted.length > 0) {
      const reply = await this.request('get', { ids: wanted.slice(0, GET_BATCH) }, 'statuses');
      statuses.push(...reply.statuses);
      missing.push(...reply.missing);
      Object.assign(replyCounts, reply.replyCounts);
      if (reply.statuses.length === 0 && reply.missing.length === 0) throw new UpdraftError(ClientErrorCode.BadFrame, 'the server answered get with nothing');
      // Left out to keep the reply under 128 KB: asked for again first.
      wanted = [...(reply.truncated ?? []), ...wanted.slice(GET_BATCH)];
    }
    return { statuses, missing, replyCounts };
  }

  /** Follows a user; this client's connections now receive their statuses (the server subscribes them). */
  async follow(user: UserId): Promise<void> {
    await this.request('follow', { user }, 'followed');
    this.dropped.delete(userChannel(user));
    this.track(userChannel(user));
  }

  async unfollow(user: UserId): Promise<void> {
    await this.request('unfollow', { user }, 'unfollowed');
    this.forget(userChannel(user));
  }

  /**
   * Who the signed-in user follows. The server subscribes each connection to
   * them; this also keeps their channels in the resume set.
   */
  async following(): Promise<UserId[]> {
    const users = [...(await this.request('following', {}, 'following')).users];
    for (const user of users) this.track(userChannel(user));
    return users;
  }

  async presence(users: readonly UserId[]): Promise<Presence[]> {
    return [...(await this.request('presence', { users }, 'presence')).users];
  }

  async ping(): Promise<void> {
    await this.request('ping', {}, 'pong');
  }

  /**
   * Sends one frame and waits for the reply with its `id`. An `error` reply
   * rejects with `UpdraftError`. While disconnected, the frame waits for the
   * next connection, unless `resend` is false: then it rejects with code
   * `disconnected`, as it does if its connection drops before the reply.
   * The frame's `id` is the client's own unless `id` is given; two requests
   * in flight cannot share one.
   */
  request<T extends ServerFrame['type']>(action: string, fields: Record<string, unknown>, expect: T, resend = true, id = `${this.prefix}-${++this.counter}`): Promise<Reply<T>> {
    if (this.current === ConnectionState.Idle || this.current === ConnectionState.Closed) {
      return Promise.reject(new UpdraftError(ClientErrorCode.Closed, `cannot send ${action}: the client is ${this.current}; call connect() first`));
    }
    if (this.pending.has(id)) return Promise.reject(new RangeError(`a request with id ${JSON.stringify(id)} is already waiting for its reply`));
    const open = this.socket?.readyState === OPEN;
    if (!open && !resend) return Promise.reject(new UpdraftError(ClientErrorCode.Disconnected, `not connected: ${action} was not sent`));
    const frame = { ...fields, action, id };
    return new Promise<ServerFrame>((resolve, reject) => {
      const timeoutMs = this.options.requestTimeoutMs ?? 20_000;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new UpdraftError(ClientErrorCode.Timeout, `no reply to ${action} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { frame, resolve, reject, timer, resend });
      if (open) this.send(frame);
    }).then((reply) => {
      if (reply.type === 'error') throw new UpdraftError(reply.code, reply.message, reply.retryAfterMs);
      if (!isReply(reply, expect)) throw new UpdraftError(ClientErrorCode.UnexpectedReply, `expected ${expect}, got ${reply.type}`);
      return reply;
    });
  }

  /**
   * Starts a connection attempt. Whatever goes wrong in it is either retried
   * (no token, no connection) or, if the client cannot work at all, ends it:
   * nothing is left to reject unhandled, and `connect()` settles either way.
   */
  private attemptNow(): void {
    // While reconnecting, say that the wait is over: a countdown stops, a "retry now" has nothing left to bring forward.
    if (this.current === ConnectionState.Reconnecting) {
      const { attempt, reason } = this.lastChange;
      this.setState({ state: ConnectionState.Reconnecting, ...(attempt === undefined ? {} : { attempt }), ...(reason === undefined ? {} : { reason }) });
    }
    this.open().catch((error: unknown) => {
      if (this.current === ConnectionState.Closed) return;
      this.events.emit('error', toError(error));
      this.close(describe(error));
    });
  }

  private async open(): Promise<void> {
    const generation = ++this.generation;
    let token: string;
    try {
      token = typeof this.options.token === 'string' ? this.options.token : await this.options.token();
    } catch (error) {
      if (generation === this.generation) this.retry(`could not get a token: ${describe(error)}`);
      return;
    }
    // close(), or another attempt, came first while the token was on its way.
    if (generation !== this.generation) return;
    const Socket = this.options.WebSocket ?? defaultWebSocket();
    if (!Socket) throw new Error('no WebSocket implementation: pass one in options.WebSocket');
    const separator = this.options.url.includes('?') ? '&' : '?';
    let socket: SocketLike;
    try {
      socket = new Socket(`${this.options.url}${separator}token=${encodeURIComponent(token)}`);
    } catch (error) {
      this.retry(`could not connect: ${describe(error)}`);
      return;
    }
    this.socket = socket;
    let opened = false;
    let failure = '';
    socket.onopen = () => {
      opened = true;
      void this.onOpen(generation);
    };
    socket.onmessage = (event) => {
      this.heard();
      this.onFrame(String(event.data));
    };
    // A refused handshake shows as an error and then a close; the close decides.
    // Browsers say nothing more; Node's `ws` names the HTTP status.
    socket.onerror = (event) => {
      failure = event.message ?? '';
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.dropConnection();
      this.retry(opened ? `closed ${event.code}${event.reason ? ` ${event.reason}` : ''}` : `could not connect${failure ? `: ${failure}` : ''}`);
    };
  }

  private async onOpen(generation: number): Promise<void> {
    this.setState({ state: ConnectionState.CatchingUp });
    this.startHeartbeat();
    // Requests that were waiting, or in flight on the last connection, go (again) first.
    for (const pending of this.pending.values()) if (pending.resend) this.send(pending.frame);
    const channels = [...this.cursors.keys()];
    for (const channel of channels) this.startCatchUp(channel);
    try {
      await this.catchUp(channels, generation, false);
    } catch (error) {
      // Replaced, or the socket already dropped (its close schedules the next attempt): nothing to report.
      if (generation !== this.generation || !this.socket) return;
      // The server failed the catch-up: the next connection starts again from the same cursors.
      this.events.emit('error', toError(error));
      this.socket.close(4000, 'catch-up failed');
      return;
    }
    if (generation !== this.generation || this.current !== ConnectionState.CatchingUp) return;
    this.attempt = 0;
    this.setState({ state: ConnectionState.Live });
  }

  /**
   * Subscribes in batches the protocol allows, hands `missed` over and pages
   * truncated channels to the end. On reconnection (`strict` false), a batch
   * the server refuses is retried channel by channel, and a channel refused on
   * its own is dropped with an `error` event, so one bad channel cannot keep
   * the client from going live.
   */
  private async catchUp(channels: readonly ChannelName[], generation: number, strict: boolean): Promise<void> {
    for (const channel of channels) this.startCatchUp(channel);
    try {
      for (let start = 0; start < channels.length; start += SUBSCRIBE_BATCH) {
        const batch = channels.slice(start, start + SUBSCRIBE_BATCH).filter((channel) => this.cursors.has(channel));
        try {
          await this.catchUpBatch(batch, generation);
        } catch (error) {
          if (strict || !isRefusal(error) || batch.length === 1) throw error;
          for (const channel of batch) {
            await this.catchUpBatch([channel], generation).catch((refusal: unknown) => {
              if (!isRefusal(refusal)) throw refusal;
              this.forget(channel);
              this.events.emit('error', new UpdraftError(refusal.code, `${channel} dropped: ${refusal.message}`));
            });
          }
        }
      }
      if (generation === this.generation) for (const channel of channels) this.caughtUp(channel);
    } catch (error) {
      // What arrived live meanwhile is dropped, not handed over ahead of older items the catch-up never
      // brought: the cursors did not move, so the next catch-up brings it again, in order.
      if (generation === this.generation) for (const channel of channels) this.catchingUp.delete(channel);
      throw error;
    }
  }

  private async catchUpBatch(batch: readonly ChannelName[], generation: number): Promise<void> {
    if (batch.length === 0) return;
    const since = Object.fromEntries(batch.map((channel) => [channel, this.cursorOf(channel)]));
    const reply = await this.request('subscribe', { channels: batch, since }, 'subscribed', false);
    this.assertCurrent(generation);
    // What the store no longer holds is reported at once: nothing will bring it back.
    const onLost = (gap: Gap) => {
      this.events.emit('gap', gap);
      this.events.emit('recovered', { ...gap, lost: range(gap.from, gap.to) });
    };
    for (const [channel, items] of Object.entries(reply.missed ?? {})) {
      for (const item of items) this.fromStore(channel, item, onLost);
    }
    for (const channel of reply.truncated ?? []) await this.readToEnd(channel, generation, onLost);
    for (const channel of batch) {
      // Everything up to the head read at the subscription is in now, or gone from the store: live items start after it.
      const head = reply.positions?.[channel];
      const known = this.positions.get(channel);
      if (head !== undefined && known !== undefined && head > known) onLost({ channel, from: known + 1, to: head });
      if (head !== undefined && (known === undefined || head > known)) this.positions.set(channel, head);
      this.caughtUp(channel);
    }
  }

  /** Pages a channel with `history` from its cursor to its end, handing each item over. */
  private async readToEnd(channel: ChannelName, generation: number, onLost: (gap: Gap) => void): Promise<void> {
    let after: StatusId | undefined = this.cursorOf(channel);
    while (after !== undefined) {
      const page: Reply<'history'> = await this.request('history', { channel, after, limit: PAGE_LIMIT }, 'history', false);
      this.assertCurrent(generation);
      for (const item of page.items) this.fromStore(channel, item, onLost);
      after = page.next;
    }
  }

  /**
   * Hands over an item read from the store (missed, or paged after the cursor). The store holds a
   * channel's items in position order, so a position skipped here is not late but gone (deleted,
   * or past retention): `onLost` is told.
   */
  private fromStore(channel: ChannelName, item: ChannelEntry, onLost: (gap: Gap) => void): void {
    const known = this.positions.get(channel);
    if (item.pos === undefined || known === undefined) {
      this.deliver(channel, item, true);
      return;
    }
    if (item.pos <= known) return;
    if (item.pos > known + 1) onLost({ channel, from: known + 1, to: item.pos - 1 });
    this.deliver(channel, item, true);
  }

  private startCatchUp(channel: ChannelName): void {
    if (!this.catchingUp.has(channel)) this.catchingUp.set(channel, []);
  }

  /** The catch-up of a channel is over: what arrived live meanwhile follows, in order, as if it arrived now. */
  private caughtUp(channel: ChannelName): void {
    const held = this.catchingUp.get(channel);
    if (held === undefined) return;
    this.catchingUp.delete(channel);
    for (const item of held.sort(inChannelOrder)) this.deliverLive(channel, item);
  }

  /**
   * Fills a gap seen live: holds the channel's live items, reads the channel from its cursor to its
   * end, then hands the held items over. If the connection drops meanwhile, the next connection's
   * catch-up starts from the same cursor, so nothing is skipped either way.
   */
  private async fill(gap: Gap, generation: number): Promise<void> {
    this.events.emit('gap', gap);
    const lost: Position[] = [];
    try {
      await this.readToEnd(gap.channel, generation, ({ from, to }) => lost.push(...range(from, to)));
    } catch (error) {
      // Replaced, or dropped: the next connection's catch-up starts from the same cursor.
      if (generation !== this.generation || !this.socket) return;
      // The server failed the read: what was held is dropped, not handed over past the gap; the cursor
      // did not move, so the next gap or catch-up (sync(), a reconnection) reads it again.
      this.catchingUp.delete(gap.channel);
      this.events.emit('error', toError(error));
      return;
    }
    this.events.emit('recovered', { ...gap, lost });
    this.caughtUp(gap.channel);
  }

  /** A channel whose position is not known yet got a live item: catch it up, holding the item, to learn where it stands. */
  private learnPosition(channel: ChannelName): void {
    const generation = this.generation;
    this.catchUp([channel], generation, false).catch((error: unknown) => {
      if (generation === this.generation && this.socket) this.events.emit('error', toError(error));
    });
  }

  private mayAdvance(channel: ChannelName): boolean {
    return this.cursors.has(channel) && !this.catchingUp.has(channel);
  }

  /**
   * Hands a live item over in its channel's order: held while the channel catches up, dropped if
   * its position was handed over already, and held while a gap before it is filled.
   */
  private deliverLive(channel: ChannelName, item: ChannelEntry): void {
    const held = this.catchingUp.get(channel);
    if (held) {
      held.push(item);
      return;
    }
    const wanted = this.cursors.has(channel);
    if (item.pos === undefined || !wanted) {
      this.deliver(channel, item, wanted);
      return;
    }
    const known = this.positions.get(channel);
    if (known === undefined) {
      this.catchingUp.set(channel, [item]);
      this.learnPosition(channel);
    } else if (item.pos <= known) {
      return;
    } else if (item.pos === known + 1) {
      this.deliver(channel, item, true);
    } else {
      this.catchingUp.set(channel, [item]);
      void this.fill({ channel, from: known + 1, to: item.pos - 1 }, this.generation);
    }
  }

  private assertCurrent(generation: number): void {
    if (generation !== this.generation) throw new UpdraftError(ClientErrorCode.Disconnected, 'the connection was replaced');
  }

  private onFrame(data: string): void {
    const parsed = parseServerFrame(data);
    if (!parsed.ok) {
      // Reported and skipped: one bad frame must not stop the ones after it. A request it
      // answers (by its id) fails at once rather than waiting out its timeout.
      const error = new UpdraftError(ClientErrorCode.BadFrame, `the server sent a frame this client cannot read: ${parsed.reason}`);
      const id = replyIdOf(data);
      const pending = id === undefined ? undefined : this.pending.get(id);
      if (pending) {
        clearTimeout(pending.timer);
        this.pending.delete(pending.frame.id);
        pending.reject(error);
      } else {
        this.events.emit('error', error);
      }
      return;
    }
    const frame = parsed.frame;
    if (frame.type === 'status') {
      // `user:` channels arrive unasked for the people followed (subscribed at $connect): keep them too.
      if (frame.channel.startsWith('user:') && !this.dropped.has(frame.channel)) this.track(frame.channel);
      this.deliverLive(frame.channel, frame.pos === undefined ? frame.status : { ...frame.status, pos: frame.pos });
      return;
    }
    if (frame.type === 'notification') {
      if (this.inbox === undefined) this.deliver('inbox:', frame.notification, false);
      else this.deliverLive(this.inbox, frame.pos === undefined ? frame.notification : { ...frame.notification, pos: frame.pos });
      return;
    }
    const pending = frame.id === undefined ? undefined : this.pending.get(frame.id);
    if (pending) {
      clearTimeout(pending.timer);
      this.pending.delete(pending.frame.id);
      pending.resolve(frame);
    } else if (frame.type === 'error') {
      this.events.emit('error', new UpdraftError(frame.code, frame.message, frame.retryAfterMs));
    }
  }

  /**
   * Hands an item over once per channel. `advance` says the item is part of an
   * unbroken run from the channel's cursor (live, missed, or paged after it),
   * so the cursor may move up to it.
   */
  private deliver(channel: ChannelName, item: ChannelEntry, advance: boolean): void {
    if (advance) {
      const cursor = this.cursors.get(channel);
      if (cursor === undefined || item.id > cursor) this.cursors.set(channel, item.id);
      if (item.pos !== undefined && item.pos > (this.positions.get(channel) ?? 0)) this.positions.set(channel, item.pos);
    }
    let seen = this.seen.get(channel);
    if (!seen) this.seen.set(channel, (seen = new Set()));
    if (seen.has(item.id)) return;
    seen.add(item.id);
    if (seen.size > SEEN_PER_CHANNEL) {
      const oldest = seen.values().next();
      if (!oldest.done) seen.delete(oldest.value);
    }
    const { pos, ...bare } = item;
    if ('kind' in bare) this.events.emit('notification', bare);
    else this.events.emit('status', pos === undefined ? { channel, status: bare } : { channel, status: bare, pos });
  }

  /**
   * Adds a channel to the resume set. With no cursor yet, it starts a minute
   * before now (a time-only id): whatever a reconnection finds after that
   * was posted after the channel was wanted, give or take clock skew.
   */
  private track(channel: ChannelName, cursor?: StatusId): void {
    if (parseChannel(channel)?.kind === 'inbox') this.inbox = channel;
    if (cursor !== undefined) this.cursors.set(channel, cursor);
    else if (!this.cursors.has(channel)) this.cursors.set(channel, cursorAt(Date.now() - 60_000));
  }

  private cursorOf(channel: ChannelName): StatusId {
    return this.cursors.get(channel) ?? cursorAt(Date.now() - 60_000);
  }

  private forget(channel: ChannelName): void {
    if (this.inbox === channel) this.inbox = undefined;
    this.cursors.delete(channel);
    this.positions.delete(channel);
    this.seen.delete(channel);
    this.catchingUp.delete(channel);
    this.dropped.add(channel);
  }

  /** The socket is gone: requests that must not cross to the next connection fail now. */
  private dropConnection(): void {
    this.detach();
    this.stopHeartbeat();
    this.catchingUp.clear();
    for (const [id, pending] of this.pending) {
      if (pending.resend) continue;
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(new UpdraftError(ClientErrorCode.Disconnected, 'the connection dropped before the reply'));
    }
  }

  private retry(reason: string): void {
    if (this.current === ConnectionState.Closed) return;
    const delayMs = backoffDelay(this.attempt, this.options.backoff, this.options.random);
    this.attempt += 1;
    this.setState({ state: ConnectionState.Reconnecting, attempt: this.attempt, delayMs, nextAttemptAt: Date.now() + delayMs, reason });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.attemptNow();
    }, delayMs);
  }

  private get pongTimeoutMs(): number {
    return this.options.pongTimeoutMs ?? 15_000;
  }

  /** Sends a frame on the open socket; the gateway's idle timer starts again from here. */
  private send(frame: object): void {
    this.socket?.send(JSON.stringify(frame));
    this.lastSentAt = Date.now();
  }

  /** Any frame from the server proves the connection alive: an unanswered heartbeat is answered. */
  private heard(): void {
    this.lastHeardAt = Date.now();
    this.unanswered = 0;
    if (this.pongTimer === undefined) return;
    clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
    // The next heartbeat was armed for the answer's deadline: with an answer in, it is due by the quiet time again.
    clearTimeout(this.heartbeatTimer);
    this.scheduleHeartbeat();
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    this.lastSentAt = this.lastHeardAt = Date.now();
    this.scheduleHeartbeat();
  }

  /**
   * Wakes when the connection will have been quiet (nothing sent, or nothing heard) for
   * heartbeatMs, less up to Limits.heartbeatJitter of it, drawn anew each time; while a heartbeat
   * waits for its answer, not before that has had its time.
   */
  private scheduleHeartbeat(): void {
    const every = (this.options.heartbeatMs ?? Limits.heartbeatMs) * (1 - Limits.heartbeatJitter * (this.options.random ?? Math.random)());
    const quietAt = Math.min(this.lastSentAt, this.lastHeardAt) + every;
    const dueAt = this.pongTimer === undefined ? quietAt : Math.max(quietAt, Date.now() + this.pongTimeoutMs);
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeatTimer = undefined;
      const quietSince = Math.min(this.lastSentAt, this.lastHeardAt);
      // Frames went both ways since this was armed: no ping is needed yet.
      if (Date.now() - quietSince >= every && this.pongTimer === undefined) this.heartbeat(this.socket);
      this.scheduleHeartbeat();
    }, Math.max(0, dueAt - Date.now()));
  }

  /**
   * One heartbeat: a `ping`, and a deadline for any frame to come back. A heartbeat may be
   * throttled (the gateway answers with a frame of its own, which proves life too) or lost: one
   * unanswered is sent again, and only HEARTBEAT_TRIES unanswered in a row drop the connection.
   */
  private heartbeat(socket: SocketLike | undefined): void {
    if (!socket || this.socket !== socket) return;
    this.request('ping', {}, 'pong', false).catch(() => undefined);
    this.pongTimer = setTimeout(() => {
      this.pongTimer = undefined;
      if (this.socket !== socket) return;
      this.unanswered += 1;
      if (this.unanswered < HEARTBEAT_TRIES) {
        this.heartbeat(socket);
        return;
      }
      // Nothing heard through every try: the connection is dead even if the socket has not noticed. Replace it.
      this.dropConnection();
      socket.close(4001, 'heartbeat timed out');
      this.retry('heartbeat timed out');
    }, this.pongTimeoutMs);
  }

  private stopHeartbeat(): void {
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.pongTimer);
    this.heartbeatTimer = undefined;
    this.pongTimer = undefined;
    this.unanswered = 0;
  }

  private detach(): SocketLike | undefined {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      // Not null: `ws` reports closing a socket still connecting as an error event, which with no listener is thrown.
      socket.onerror = () => undefined;
    }
    return socket;
  }

  private setState(change: StateChange): void {
    this.current = change.state;
    this.lastChange = change;
    this.events.emit('state', change);
  }
}

/** Items of one channel in its order: by position, by id where there is none. */
function inChannelOrder(a: ChannelEntry, b: ChannelEntry): number {
  if (a.pos !== undefined && b.pos !== undefined) return a.pos - b.pos;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * The smallest status id at a time: ids are ULIDs, whose first ten characters
 * encode the time, so this sorts before every status created from then on.
 */
export function cursorAt(ms: number): StatusId {
  return encodeTime(ms, 10) + '0'.repeat(16);
}

/**
 * The platform's WebSocket (browsers, Node 22), if it has one. Checked to be
 * a constructor; the one cast left in the library, because the DOM typings
 * declare its handlers with narrower event types than `SocketLike`'s (which
 * `ws` and the browser both satisfy at run time: the e2e and integration tests).
 */
function defaultWebSocket(): SocketFactory | undefined {
  const found: unknown = Reflect.get(globalThis, 'WebSocket');
  return typeof found === 'function' ? (found as SocketFactory) : undefined;
}

const toError = (error: unknown): Error => (error instanceof Error ? error : new Error(describe(error)));

/** A thrown value's message: a token function may reject with anything, not only an Error. */
function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  return `a non-error value (${String(error)})`;
}

/** The `id` of a frame that did not parse as a server frame, when it is JSON with one. */
function replyIdOf(data: string): string | undefined {
  try {
    const value: unknown = JSON.parse(data);
    if (typeof value === 'object' && value !== null && 'id' in value && typeof value.id === 'string') return value.id;
  } catch {
    // Not JSON: it answers no request that can be named.
  }
  return undefined;
}
