import { randomUUID } from 'node:crypto';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  TrimmedDataAccessException,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import { matchesAny } from './filters';
import type { LocalFunction } from './lambda';
import type { StreamMappingModel } from './template';
import type { ServiceDeletions } from './ttl';

export interface FailedBatch {
  readonly mapping: string;
  readonly queueId?: string;
  /** What Lambda sends an on-failure destination for a stream batch. */
  readonly message: Record<string, unknown>;
}

export interface StreamMappingOptions {
  readonly model: StreamMappingModel;
  readonly streamArn: string;
  readonly tableName: string;
  readonly fn: LocalFunction;
  readonly client: DynamoDBStreamsClient;
  readonly region: string;
  /** How often an idle shard is polled. Lambda polls about 4 times a second; locally it can be faster. */
  readonly pollIntervalMs: number;
  readonly serviceDeletions: ServiceDeletions;
  readonly onFailure: (failed: FailedBatch) => void;
  readonly log: (line: string) => void;
  /** Called with every event sent to the function; for fidelity tests and debugging. */
  readonly onEvent?: (kind: string, event: unknown) => void;
  /** Called when the function has answered a batch, or failed on it. */
  readonly onBatch?: (records: number, outcome: 'ok' | 'failed', durationMs: number) => void;
  /** `UPDRAFT_FAULTS` stream:duplicate and stream:reorder: what the records read become before they are handed over. */
  readonly faults?: StreamFaults;
}

export interface StreamFaults {
  /** The records read in one poll, some of them twice: before they are cut into batches, so a copy may go in the next. */
  duplicate(records: Batch): Batch;
  /** One batch, two of its records perhaps swapped. */
  reorder(batch: Batch): Batch;
}

interface Shard {
  iterator?: string;
  closed: boolean;
  /** The last record handed to the function: where to pick up again if the iterator expires. */
  lastSequence?: string;
}

export type Batch = DynamoDBRecord[];

/**
 * An event source mapping from a DynamoDB stream to a function, emulated:
 * it polls DynamoDB Local's Streams API (describing the stream again to find
 * new shards), shapes records as Lambda delivers them, applies the filter
 * criteria, and honours batch size and window, retries, bisection,
 * batchItemFailures, maximum record age and the on-failure destination.
 */
export class StreamMapping {
  private readonly shards = new Map<string, Shard>();
  private stopped = false;

  /** A method, so that a check after an await reads the flag afresh. */
  private isStopped(): boolean {
    return this.stopped;
  }
  private loop?: Promise<void>;
  private wake?: () => void;
  /** Something may have been written since the last poll began: the next idle pause is skipped. */
  private poked = false;

  constructor(private readonly options: StreamMappingOptions) {}

  /**
   * A hint that the table may have new records (a function has just run): an idle shard is polled
   * now rather than at the end of its interval. Lambda's pollers cannot know this; the local stack
   * can, and a post reaches its subscribers one poll interval sooner for it.
   */
  poke(): void {
    this.poked = true;
    this.wake?.();
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    let firstDiscovery = true;
    let lastDescribe = 0;
    while (!this.stopped) {
      try {
        if (Date.now() - lastDescribe > 1000 || [...this.shards.values()].every((s) => s.closed)) {
          await this.discover(firstDiscovery);
          firstDiscovery = false;
          lastDescribe = Date.now();
        }
        let received = 0;
        this.poked = false;
        for (const [shardId, shard] of this.shards) {
          if (shard.closed || this.isStopped()) continue;
          received += await this.pollShard(shardId, shard);
        }
        if (received === 0) await this.idle(this.options.pollIntervalMs);
      } catch (error) {
        this.options.log(`stream ${this.options.model.logicalId}: ${error instanceof Error ? error.message : String(error)}`);
        await this.pause(1000);
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Waits for the poll interval, or less when poked since the last poll began. */
  private idle(ms: number): Promise<void> {
    if (this.poked) {
      this.poked = false;
      return Promise.resolve();
    }
    return this.pause(ms);
  }

  /**
   * Shards present when the mapping starts begin at its starting position;
   * later ones from their start. LATEST is reached by reading past what the
   * shard already holds: DynamoDB Local's own LATEST iterator can miss the
   * records written after it.
   */
  private async discover(initial: boolean): Promise<void> {
    let exclusiveStart: string | undefined;
    do {
      const { StreamDescription } = await this.options.client.send(
        new DescribeStreamCommand({ StreamArn: this.options.streamArn, ExclusiveStartShardId: exclusiveStart }),
      );
      for (const shard of StreamDescription?.Shards ?? []) {
        if (!shard.ShardId || this.shards.has(shard.ShardId)) continue;
        const latest = initial && this.options.model.startingPosition !== 'TRIM_HORIZON';
        this.shards.set(shard.ShardId, await this.open(shard.ShardId, latest));
      }
      exclusiveStart = StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStart);
  }

  private async open(shardId: string, latest: boolean): Promise<Shard> {
    const { ShardIterator } = await this.options.client.send(
      new GetShardIteratorCommand({ StreamArn: this.options.streamArn, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    const shard: Shard = { iterator: ShardIterator, closed: !ShardIterator };
    while (latest && shard.iterator) {
      const { Records = [], NextShardIterator } = await this.options.client.send(new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: 1000 }));
      const last = Records.at(-1)?.dynamodb?.SequenceNumber;
      if (last) shard.lastSequence = last;
      shard.iterator = NextShardIterator;
      shard.closed = !NextShardIterator;
      if (Records.length === 0) break;
    }
    return shard;
  }

  private async pollShard(shardId: string, shard: Shard): Promise<number> {
    const { model } = this.options;
    const collected: Batch = [];
    const windowEnds = Date.now() + model.batchingWindowMs;
    do {
      let response;
      try {
        response = await this.options.client.send(new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: 1000 }));
      } catch (error) {
        if (error instanceof ExpiredIteratorException || error instanceof TrimmedDataAccessException) {
          // Iterators expire after 15 minutes (a laptop asleep): resume after the last record delivered.
          shard.iterator = await this.reopen(shardId, shard.lastSequence);
          shard.closed = !shard.iterator;
        }
        // Records already read in this window are delivered; the failure shows again at the next poll.
        if (collected.length > 0) break;
        if (error instanceof ExpiredIteratorException || error instanceof TrimmedDataAccessException) return 0;
        throw error;
      }
      shard.iterator = response.NextShardIterator;
      if (!shard.iterator) shard.closed = true;
      for (const record of response.Records ?? []) collected.push(this.shape(record));
      if (collected.length >= model.batchSize || shard.closed || this.stopped) break;
      if (Date.now() < windowEnds) await this.pause(Math.min(this.options.pollIntervalMs, windowEnds - Date.now()));
    } while (Date.now() < windowEnds);

    const filtered = collected.filter((record) => matchesAny(record, model.filterPatterns));
    const faults = this.options.faults;
    const kept = faults ? faults.duplicate(filtered) : filtered;
    for (let i = 0; i < kept.length; i += model.batchSize) {
      const batch = kept.slice(i, i + model.batchSize);
      await this.deliver(shardId, faults ? faults.reorder(batch) : batch);
    }
    const last = collected.at(-1)?.dynamodb?.SequenceNumber;
    if (last) shard.lastSequence = last;
    return collected.length;
  }

  private async reopen(shardId: string, after: string | undefined): Promise<string | undefined> {
    const { ShardIterator } = await this.options.client.send(
      new GetShardIteratorCommand({
        StreamArn: this.options.streamArn,
        ShardId: shardId,
        ...(after ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after } : { ShardIteratorType: 'TRIM_HORIZON' }),
      }),
    );
    return ShardIterator;
  }

  /** A record as Lambda hands it over: epoch-second times, base64 binaries, the stream ARN and region. */
  private shape(record: StreamRecord): DynamoDBRecord {
    const dynamodb = record.dynamodb ?? {};
    const created = dynamodb.ApproximateCreationDateTime;
    const shaped = {
      eventID: record.eventID,
      eventName: record.eventName,
      eventVersion: record.eventVersion,
      eventSource: 'aws:dynamodb',
      awsRegion: this.options.region,
      dynamodb: {
        ...toLambdaJson(dynamodb),
        ...(created ? { ApproximateCreationDateTime: Math.floor(new Date(created).getTime() / 1000) } : {}),
      },
      eventSourceARN: this.options.streamArn,
    } as DynamoDBRecord;
    if (record.eventName === 'REMOVE' && dynamodb.Keys && this.options.serviceDeletions.take(this.options.tableName, dynamodb.Keys)) {
      shaped.userIdentity = { type: 'Service', principalId: 'dynamodb.amazonaws.com' };
    }
    return shaped;
  }

  private async deliver(shardId: string, records: Batch): Promise<void> {
    const { model } = this.options;
    const queue: Batch[] = [records];
    for (let next = queue.shift(); next && !this.isStopped(); next = queue.shift()) {
      let batch = next;
      for (let attempt = 0; batch.length > 0; attempt++) {
        const expired = model.maxRecordAgeMs >= 0 ? batch.filter((r) => ageMs(r) > model.maxRecordAgeMs) : [];
        if (expired.length > 0) {
          this.fail(shardId, expired, 'RecordAgeExceeded', attempt);
          batch = batch.filter((r) => !expired.includes(r));
          if (batch.length === 0) break;
        }
        let failedFrom: number;
        if (this.isStopped()) return;
        const started = Date.now();
        try {
          const event = { Records: batch };
          this.options.onEvent?.('stream', event);
          const result = await this.options.fn.invoke(event);
          failedFrom = model.reportBatchItemFailures ? firstFailure(batch, batchItemFailures(result)) : batch.length;
          this.options.onBatch?.(batch.length, failedFrom === batch.length ? 'ok' : 'failed', Date.now() - started);
          if (failedFrom === batch.length) break;
        } catch (error) {
          if (this.isStopped()) return;
          this.options.onBatch?.(batch.length, 'failed', Date.now() - started);
          this.options.log(`${this.options.fn.model.logicalId} failed on a batch of ${batch.length}: ${error instanceof Error ? error.message : String(error)}`);
          if (model.bisectOnError && batch.length > 1) {
            const half = Math.ceil(batch.length / 2);
            queue.unshift(batch.slice(0, half), batch.slice(half));
            break;
          }
          failedFrom = 0;
        }
        batch = batch.slice(failedFrom);
        if (model.maxRetries >= 0 && attempt >= model.maxRetries) {
          this.fail(shardId, batch, 'RetryAttemptsExhausted', attempt + 1);
          break;
        }
        await this.pause(Math.min(5000, 100 * 2 ** attempt));
        if (this.isStopped()) return;
      }
    }
  }

  private fail(shardId: string, records: Batch, condition: string, invokeCount: number): void {
    const first = records[0]?.dynamodb;
    const last = records.at(-1)?.dynamodb;
    const iso = (seconds?: number) => (seconds === undefined ? undefined : new Date(seconds * 1000).toISOString());
    this.options.onFailure({
      mapping: this.options.model.logicalId,
      ...(this.options.model.onFailureQueueId ? { queueId: this.options.model.onFailureQueueId } : {}),
      message: {
        requestContext: { requestId: randomUUID(), functionArn: this.options.fn.name, condition, approximateInvokeCount: invokeCount },
        responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
        version: '1.0',
        timestamp: new Date().toISOString(),
        DDBStreamBatchInfo: {
          shardId,
          startSequenceNumber: first?.SequenceNumber,
          endSequenceNumber: last?.SequenceNumber,
          approximateArrivalOfFirstRecord: iso(first?.ApproximateCreationDateTime),
          approximateArrivalOfLastRecord: iso(last?.ApproximateCreationDateTime),
          batchSize: records.length,
          streamArn: this.options.streamArn,
        },
      },
    });
  }
}

/** Index of the lowest failed record; an unknown or empty identifier fails the whole batch, as Lambda does. */
/** The `itemIdentifier`s of a function's `batchItemFailures`; an item without one fails the whole batch, as on Lambda. */
function batchItemFailures(result: unknown): (string | undefined)[] {
  if (result === null || typeof result !== 'object' || !('batchItemFailures' in result) || !Array.isArray(result.batchItemFailures)) return [];
  const failures: readonly unknown[] = result.batchItemFailures;
  return failures.map((failure) =>
    failure !== null && typeof failure === 'object' && 'itemIdentifier' in failure && typeof failure.itemIdentifier === 'string' ? failure.itemIdentifier : undefined,
  );
}

function firstFailure(batch: Batch, failures: readonly (string | undefined)[]): number {
  if (failures.length === 0) return batch.length;
  let lowest = batch.length;
  for (const failure of failures) {
    const index = batch.findIndex((r) => r.dynamodb?.SequenceNumber === failure);
    if (index < 0) return 0;
    lowest = Math.min(lowest, index);
  }
  return lowest;
}

const ageMs = (record: DynamoDBRecord) => Date.now() - (record.dynamodb?.ApproximateCreationDateTime ?? Date.now() / 1000) * 1000;

/** The SDK's parsed shapes back to Lambda's JSON: binaries as base64 text. */
function toLambdaJson(value: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v))) as Record<
    string,
    unknown
  >;
}
