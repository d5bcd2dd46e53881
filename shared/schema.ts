/**
 * The table layout, in one place: key and attribute names, key prefixes,
 * index names, and the channel prefixes that the stream filter and the
 * protocol share. The CDK stack builds the tables, IAM conditions and the
 * stream filter from it; the stores build and parse rows with it; tests create
 * DynamoDB Local tables from it. It imports nothing and does nothing when
 * loaded, so synth pulls no SDK in.
 */

/** One key attribute of a table or index (all keys are strings here, except numbers where said). */
export interface KeyAttribute {
  readonly name: string;
  readonly type: 'S' | 'N';
}

export interface IndexLayout {
  readonly name: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  /** Attributes projected besides the keys. */
  readonly nonKeyAttributes: readonly string[];
}

export interface TableLayout {
  readonly partitionKey: KeyAttribute;
  readonly sortKey: KeyAttribute;
  readonly ttlAttribute?: string;
  /** A stream of new images, for fan-out. */
  readonly stream?: boolean;
  readonly indexes: readonly IndexLayout[];
}

/**
 * Channel names of docs/protocol.md: `user:<id>`,
 * `thread:<rootId>`, `inbox:<id>`. These are the channels fan-out delivers.
 */
export const ChannelPrefix = { user: 'user:', thread: 'thread:', inbox: 'inbox:' } as const;

/**
 * The Statuses table is a log per channel: partition key `channel`, sort key
 * `id` (a ULID, so the sort order is time order). A status is written once per
 * channel it belongs to, plus once under `status:<id>` (a channel nobody
 * subscribes to, so the stream filter leaves it out) so it can be read by id
 * with a strongly consistent GetItem.
 */
export const Statuses = {
  partitionKey: 'channel',
  sortKey: 'id',
  /** The partition of the copy read by id. */
  byIdPrefix: 'status:',
  /** `status` or `notification`: how the rest of the row reads. */
  kindAttribute: 'kind',
  /** The channels whose new rows the stream delivers to subscribers. */
  deliveredPrefixes: [ChannelPrefix.user, ChannelPrefix.thread, ChannelPrefix.inbox],
  /** On a channel's rows: the item's position in its channel, 1, 2, 3... in commit order (absent on rows from before positions). */
  positionAttribute: 'pos',
  /**
   * `head#<channel> / head`: the channel's last position and the id of the item there. Every write to a
   * channel advances its head in the same transaction, on the condition that it is still where it was
   * read, so positions are dense and in commit order, and so are ids (shared/store/posts.ts).
   */
  head: { prefix: 'head#', sortKey: 'head', positionAttribute: 'pos', lastIdAttribute: 'last' },
} as const;

/**
 * The Connections table holds what lives as long as a connection or less, most
 * of it with the TTL attribute `expiresAt`; each kind of row has a partition
 * key prefix of its own and a fixed sort key, except subscriptions (sort key:
 * the connection id). README.md ("What lives where") says which store owns each.
 */
export const Connections = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
  /** Sparse: only connection rows carry `userId`. */
  byUserIndex: 'byUser',
  userIdAttribute: 'userId',
  connectionIdAttribute: 'connectionId',
  connectedAtAttribute: 'connectedAt',
  /**
   * On connection and subscription rows: when the connection's token expires (epoch seconds), so
   * fan-out neither delivers to it afterwards nor leaves it open (shared/fanout/deliverer.ts).
   */
  tokenExpiresAtAttribute: 'tokenExpiresAt',
  rows: {
    connection: { prefix: 'conn#', sortKey: 'conn' },
    /**
     * `chan#<channel>#<shard> / <hash>#<connectionId>`: a channel's subscriptions, written across
     * `shards` partitions by a hash of the connection id (write sharding); the sort key starts with
     * that hash as 8 hex digits, so fan-out reads any range of the hash space as one key range.
     * `shards` is fixed for the table's life: rows written under another count would not be read.
     */
    subscription: { prefix: 'chan#', shards: 4 },
    /**
     * `chan#<channel>#0 / #tree`: the channel's statuses go through the delivery queue until `queuedUntil`
     * (epoch ms). `#` sorts below every hex digit, so fan-out reads it with the shard's first page.
     */
    fanOutMark: { sortKey: '#tree', untilAttribute: 'queuedUntil' },
    presence: { prefix: 'presence#', sortKey: 'presence' },
    /** An idempotency claim on a user's request id: `post#<userId>#<requestId>`. */
    claim: { prefix: 'post#', sortKey: 'post' },
    /** The post budget's bucket: `rate#<userId>` (shared/store/rates.ts). */
    rate: { prefix: 'rate#', sortKey: 'rate' },
    /** Every other action's budget: `budget#<userId>`, a row kind of its own so that only post may reach `rate#`. */
    budget: { prefix: 'budget#', sortKey: 'rate' },
    /** The connect budget: `churn#<userId>`, handshakes a user may make at once and then per second (shared/store/rates.ts). */
    churn: { prefix: 'churn#', sortKey: 'rate' },
    /**
     * The publish API's integration budget for statuses published as a user: `publish#<userId>`, apart from
     * that user's own post budget (`rate#`), so a backend neither spends nor is held back by the user's own.
     */
    publish: { prefix: 'publish#', sortKey: 'rate' },
    /**
     * `notice#<follower>#<followed>`: that follower's `follow` notification went to that user, and
     * none goes again before `expiresAt` (Limits.followNoticeSeconds), unfollows or not.
     */
    followNotice: { prefix: 'notice#', sortKey: 'follow' },
    /**
     * `open#<userId> / open`: the user's open connections, a map of connection id to the time
     * (epoch ms) it ends at the latest, so the connection cap holds with one conditional write.
     */
    openConnections: { prefix: 'open#', sortKey: 'open', mapAttribute: 'connections' },
  },
} as const;

/**
 * The Follows table: partition key `follower`, sort key `followed`, one row
 * per follow. A row with sort key `#count` keeps how many people the follower
 * follows, so the limit holds without counting. `#` sorts below every
 * character a user id may hold, so the list is the rows above it. There is no
 * index by followed user: no operation reads a user's followers, so none costs
 * more for a popular user.
 */
export const Follows = {
  partitionKey: 'follower',
  sortKey: 'followed',
  countSortKey: '#count',
} as const;

const str = (name: string): KeyAttribute => ({ name, type: 'S' });

/** The three tables as CDK and DynamoDB Local create them. */
export const TableLayouts = {
  Statuses: { partitionKey: str(Statuses.partitionKey), sortKey: str(Statuses.sortKey), stream: true, indexes: [] },
  Connections: {
    partitionKey: str(Connections.partitionKey),
    sortKey: str(Connections.sortKey),
    ttlAttribute: Connections.ttlAttribute,
    indexes: [
      {
        name: Connections.byUserIndex,
        partitionKey: str(Connections.userIdAttribute),
        sortKey: str(Connections.connectionIdAttribute),
        nonKeyAttributes: [Connections.connectedAtAttribute],
      },
    ],
  },
  Follows: { partitionKey: str(Follows.partitionKey), sortKey: str(Follows.sortKey), indexes: [] },
} as const satisfies Record<string, TableLayout>;

export type TableName = keyof typeof TableLayouts;
