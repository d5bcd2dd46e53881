import { BatchGetCommand, DynamoDBDocumentClient, GetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';

/** Every DynamoDBDocumentClient of the module under test, mocked (aws-sdk-client-mock). */
export const mockDocumentClient = () => mockClient(DynamoDBDocumentClient);
export type DocumentClientMock = ReturnType<typeof mockDocumentClient>;

/**
 * What a post reads and writes, all answered as by an empty table: no channel head yet (BatchGet),
 * no claim (Get), the budget's row taken (Update), the transaction committed. The unit tests of the
 * WebSocket `post` and the publish API's `POST /statuses` start from here.
 */
export function acceptPosts(ddb: DocumentClientMock): void {
  ddb.reset();
  ddb.on(TransactWriteCommand).resolves({});
  ddb.on(BatchGetCommand).resolves({});
  ddb.on(GetCommand).resolves({});
  ddb.on(UpdateCommand).resolves({});
}
