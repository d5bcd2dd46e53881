import { UpdateCommand, type DynamoDBDocumentClient, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { isErrorNamed } from '../errors';

/**
 * A conditional UpdateItem: true when it was written, false when its
 * ConditionExpression did not hold. Any other failure is thrown.
 */
export async function updateIf(db: DynamoDBDocumentClient, input: UpdateCommandInput): Promise<boolean> {
  try {
    await db.send(new UpdateCommand(input));
    return true;
  } catch (error) {
    if (isErrorNamed(error, 'ConditionalCheckFailedException')) return false;
    throw error;
  }
}
