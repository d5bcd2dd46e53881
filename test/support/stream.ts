import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import type { Status } from '../../shared/protocol';
import { statusItem, type LogItem } from '../../shared/store/items';

let sequence = 100;

/** A DynamoDB stream INSERT record for a row of the Statuses table, as Lambda receives it. */
export function insertRecord(item: LogItem, eventName: 'INSERT' | 'MODIFY' | 'REMOVE' = 'INSERT'): DynamoDBRecord {
  const image = marshall(item, { removeUndefinedValues: true }) as NonNullable<DynamoDBRecord['dynamodb']>['NewImage'];
  return {
    eventID: `event-${sequence}`,
    eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:dynamodb:us-east-1:000000000000:table/Statuses/stream/2026-11-21T00:00:00.000',
    dynamodb: {
      ApproximateCreationDateTime: 1_763_760_000,
      Keys: marshall({ channel: item.channel, id: item.id }) as NonNullable<DynamoDBRecord['dynamodb']>['Keys'],
      NewImage: image,
      SequenceNumber: String(sequence++).padStart(21, '0'),
      SizeBytes: 200,
      StreamViewType: 'NEW_IMAGE',
    },
  };
}

export function aStatus(overrides: Partial<Status> = {}): Status {
  return { id: '01JD0000000000000000000001', author: 'alice', text: 'hello', createdAt: new Date().toISOString(), ...overrides };
}

export const statusRecord = (channel: string, status: Status = aStatus()) => insertRecord(statusItem(channel, status));
