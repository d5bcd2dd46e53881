import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, type DynamoDBDocumentClient, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { incrementBase32, ulid } from 'ulid';
import type { ChannelName, Notification, Position, Status } from '../protocol';
import { Statuses } from '../schema';
import type { ClaimStore, RetryKey } from './claims';
import { ChannelHeads, type Head } from './heads';
import { byIdChannel, notificationItem, statusItem, type LogItem } from './items';

export type { RetryKey } from './claims';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

export interface AppendResult {
  readonly status: Status;
  readonly duplicate: boolean;
}

/**
 * What a post adds to the log: the status on the channels it belongs to, and notifications it causes.
 * The status's id is a proposal: the log may raise it (see PostLog).
 */
export interface Entry {
  readonly status: Status;
  readonly channels: readonly ChannelName[];
  readonly notifications?: readonly { readonly channel: ChannelName; readonly notification: Notification }[];
}

/** One row on a channel, made once its id and position are settled. */
interface ChannelRow {
  readonly channel: ChannelName;
  readonly row: (id: string, pos: Position) => LogItem;
}

/**
 * Commits of one channel race each other: tries before giving up. With pauses of up to 200 ms they add
 * up to 5.1 s at worst (about 2.5 s on average), inside the post function's 10 s timeout. Larger caps
 * took fewer attempts in `npm run bench:commit` but do not fit that bound at 30 tries (README.md,
 * "Cost of positions").
 */
const MAX_ATTEMPTS = 30;

/** How long a commit that lost the race waits before its next attempt (attempt 1, 2, ...), given its last wait. */
export type Backoff = (attempt: number, lastPauseMs: number) => number;

/** Full jitter: a random pause of up to 5 ms × 2^attempt, at most 200 ms. */
export const commitBackoff: Backoff = (attempt) => Math.random() * Math.min(200, 5 * 2 ** attempt);

/**
 * Writes to the Statuses table (see shared/schema.ts). A post is one transaction: its status
 * on each of its channels, its copy under `status:<id>` for reads by id, its notifications and,
 * with a retry key, the idempotency claim (ClaimStore); so a status is either stored everywhere
 * or nowhere, and a second post with a claimed request id gets the first status back, writing
 * nothing.
 *
 * The same transaction advances the head of every channel it writes to (ChannelHeads), on the
 * condition that no other write moved it since it was read. So each channel's items get
 * positions 1, 2, 3... in the order their transactions commit, with no holes; and the id is
 * raised above the id at every head, so that ids too are in commit order on every channel (a
 * status-id cursor can never skip an item committed later with a lower id). A commit that loses
 * the race reads the heads again and tries again. The copy under `status:<id>` is written on the
 * condition that no status has that id, so an id names one status forever (see commit()).
 */
export class PostLog {
  private readonly heads: ChannelHeads;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly claims: Pick<ClaimStore, 'claimWrite' | 'claimed'>,
    /** Another rule for the pauses, for test/bench/commit.ts to compare. */
    private readonly backoff: Backoff = commitBackoff,
  ) {
    this.heads = new ChannelHeads(db, table);
  }

  async append(entry: Entry, retry?: RetryKey, nowMs = Date.now()): Promise<AppendResult> {
    const rows: ChannelRow[] = [
      ...entry.channels.map((channel) => ({ channel, row: (id: string, pos: Position) => statusItem(channel, withId(entry.status, id), pos) })),
      ...(entry.notifications ?? []).map(({ channel, notification }) => ({
        channel,
        row: (id: string, pos: Position) => notificationItem(channel, renumbered(notification, entry.status.id, id), pos),
      })),
    ];
    const committed = await this.commit(entry.status.id, rows, {
      copy: (id) => withId(entry.status, id),
      ...(retry && { claim: { write: (id) => this.claims.claimWrite(retry, withId(entry.status, id), nowMs), claimed: () => this.claims.claimed(retry, nowMs) } }),
    });
    return 'written' in committed ? { status: withId(entry.status, committed.written), duplicate: false } : { status: committed, duplicate: true };
  }

  /** A notification on its own (a follow): one row, delivered by the stream like any other. */
  async notify(channel: ChannelName, notification: Notification): Promise<void> {
    await this.commit(notification.id, [{ channel, row: (id, pos) => notificationItem(channel, { ...notification, id }, pos) }], {});
  }

  /**
   * Writes the rows and advances their channels' heads in one transaction, at an id no lower than
   * `proposedId` and above every head's. With a claim, the transaction's first write is the claim:
   * if that is what failed, the status the claim holds is the answer. Else the id it wrote at.
   *
   * A status's copy under `status:<id>` is written only where none is. Two posts to disjoint
   * channels whose heads hold the same id (one status is on several channels) both raise their id
   * to the one above it, and their transactions touch no common head: the copy's condition is what
   * keeps one of them from taking the other's id. The one that finds the id taken tries a higher one.
   */
  private async commit(proposedId: string, rows: readonly ChannelRow[], extras: CommitExtras): Promise<{ readonly written: string } | Status> {
    const { copy, claim } = extras;
    const channels = [...new Set(rows.map((row) => row.channel))];
    let lowest = proposedId;
    let pause = 0;
    for (let attempt = 1; ; attempt++) {
      const heads = await this.heads.read(channels);
      const id = idAbove(lowest, heads);
      const writes = [
        // The claim goes first, and the copy next: their cancellation reasons are found by index.
        ...(claim ? [claim.write(id)] : []),
        ...(copy ? [this.copyWrite(copy(id))] : []),
        ...rows.map((row) => ({ Put: { TableName: this.table, Item: row.row(id, headOf(heads, row.channel).pos + 1) } })),
        ...channels.map((channel) => this.heads.advance(channel, headOf(heads, channel), id)),
      ];
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: writes }));
        return { written: id };
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const reasons = (error.CancellationReasons ?? []).map((reason) => reason.Code);
        if (claim && reasons[0] === 'ConditionalCheckFailed') {
          const first = await claim.claimed();
          if (first) return first;
        }
        if (attempt === MAX_ATTEMPTS) throw error;
        const copyAt = copy ? (claim ? 1 : 0) : -1;
        // Another status has this id (usually one that also moved a head here): try a higher one.
        const idTaken = reasons[copyAt] === 'ConditionalCheckFailed';
        if (idTaken) lowest = clearAbove(id);
        // Another commit moved a head first, or is in flight on one of these rows, the copy's
        // included (a racing retry of this very post too: once it has finished, its claim answers).
        const lostRace = reasons.some((code, at) => code === 'TransactionConflict' || (at !== copyAt && code === 'ConditionalCheckFailed'));
        if (!lostRace) {
          // Only the id was taken, by a status on other channels: no head stands in the way, so no pause.
          if (idTaken) continue;
          throw error;
        }
        pause = this.backoff(attempt, pause);
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  /** The copy of a status read by id, written only if the id names no status yet. */
  private copyWrite(status: Status): TransactItem {
    return {
      Put: {
        TableName: this.table,
        Item: statusItem(byIdChannel(status.id), status),
        ConditionExpression: 'attribute_not_exists(#channel)',
        ExpressionAttributeNames: { '#channel': Statuses.partitionKey },
      },
    };
  }
}

/** What a commit writes besides its channel rows and heads. */
interface CommitExtras {
  /** The status under `status:<id>`, for reads by id, given the id the commit settles on. */
  readonly copy?: (id: string) => Status;
  /** An idempotency claim on the post's request id, and how to read the status a claim already holds. */
  readonly claim?: { readonly write: (id: string) => TransactItem; readonly claimed: () => Promise<Status | undefined> };
}

const headOf = (heads: ReadonlyMap<ChannelName, Head>, channel: ChannelName): Head => heads.get(channel) ?? { pos: 0 };

/**
 * An id above `taken`, in a stretch no other post is likely to hold: its first 18 characters
 * raised by one, then the last 8 random characters (40 bits) of a fresh ULID. Not `taken` + 1: ids
 * made in one millisecond by one process are consecutive (ulid's monotonic factory), so stepping by
 * one walked a burst's ids one transaction at a time, and ran out of attempts in a batch of 50.
 */
const clearAbove = (taken: string): string => `${incrementBase32(taken.slice(0, 18))}${ulid().slice(18)}`;

/** The proposed id, or the next id above the highest head's if that is not lower: ids rise on every channel. */
function idAbove(proposed: string, heads: ReadonlyMap<ChannelName, Head>): string {
  const highest = [...heads.values()].reduce<string | undefined>((max, head) => (head.last !== undefined && (max === undefined || head.last > max) ? head.last : max), undefined);
  return highest === undefined || proposed > highest ? proposed : incrementBase32(highest);
}

const withId = (status: Status, id: string): Status => (status.id === id ? status : { ...status, id });

/** A reply notification carries its reply's id, twice: both follow when the id is raised. */
function renumbered(notification: Notification, from: string, to: string): Notification {
  if (from === to || notification.id !== from) return notification;
  return notification.status ? { ...notification, id: to, status: withId(notification.status, to) } : { ...notification, id: to };
}
