import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  BatchResultErrorEntry,
  GetQueueAttributesResult,
  GetQueueUrlResult,
  Message,
  ReceiveMessageResult,
  SendMessageBatchResult,
  SendMessageBatchResultEntry,
  SendMessageResult,
} from '@aws-sdk/client-sqs';
import { gatewayId } from './events';
import { json, readBody, type HttpRoute } from './http';
import { checkBatch, SqsError, sqsErrors, type LocalQueue, type LocalQueues, type OutgoingMessage, type SentMessage } from './queues';

/**
 * The SQS API on the stack's port, as the SDK speaks it since SQS moved to JSON:
 * `POST /` with `X-Amz-Target: AmazonSQS.<Operation>` and an AWS JSON 1.0 body
 * that names the queue by its QueueUrl. The functions' own SDK clients reach it
 * through `AWS_ENDPOINT_URL_SQS`. SigV4 signatures are accepted and not checked;
 * the access key they name is the messages' SenderId.
 */

const TARGET_PREFIX = 'AmazonSQS.';
const CONTENT_TYPE = 'application/x-amz-json-1.0';
/** More than any request needs: ten messages at SQS's largest size, and their JSON escaping. */
const BODY_LIMIT = 16 * 1024 * 1024;
/** ReceiveMessage's limits. */
const MAX_RECEIVE = 10;
const MAX_WAIT_SECONDS = 20;
const MAX_VISIBILITY_SECONDS = 12 * 60 * 60;

/** One operation: its input as the client sent it (a JSON object) in, its output out. */
type Operation = (input: Record<string, unknown>, request: { readonly senderId: string; readonly closed: AbortSignal }) => unknown;

export function sqsApiRoute(queues: LocalQueues): HttpRoute {
  const operations: Readonly<Record<string, Operation>> = {
    SendMessage: (input, { senderId }): SendMessageResult => {
      const queue = queues.byUrl(text(input, 'QueueUrl'));
      return sendResult(queue.send({ ...messageOf(input), senderId }));
    },
    SendMessageBatch: (input, { senderId }): SendMessageBatchResult => {
      const queue = queues.byUrl(text(input, 'QueueUrl'));
      const entries = list(input, 'Entries').map((entry) => ({ id: text(entry, 'Id'), message: messageOf(entry) }));
      checkBatch(
        entries.map(({ id, message }) => ({ id, body: message.body })),
        queue.model.maxMessageBytes,
      );
      const Successful: SendMessageBatchResultEntry[] = [];
      const Failed: BatchResultErrorEntry[] = [];
      for (const { id, message } of entries) {
        try {
          Successful.push({ Id: id, ...sendResult(queue.send({ ...message, senderId })) });
        } catch (error) {
          if (!(error instanceof SqsError)) throw error;
          Failed.push({ Id: id, SenderFault: true, Code: error.code, Message: error.message });
        }
      }
      return { Successful, Failed };
    },
    ReceiveMessage: async (input, { closed }): Promise<ReceiveMessageResult> => {
      const queue = queues.byUrl(text(input, 'QueueUrl'));
      const max = optionalNumber(input, 'MaxNumberOfMessages') ?? 1;
      if (max < 1 || max > MAX_RECEIVE) throw sqsErrors.invalid('MaxNumberOfMessages', max, `Must be between 1 and ${MAX_RECEIVE}, if provided.`);
      const waitSeconds = optionalNumber(input, 'WaitTimeSeconds') ?? 0;
      if (waitSeconds < 0 || waitSeconds > MAX_WAIT_SECONDS) throw sqsErrors.invalid('WaitTimeSeconds', waitSeconds, `Must be >= 0 and <= ${MAX_WAIT_SECONDS}, if provided.`);
      const visibilitySeconds = optionalNumber(input, 'VisibilityTimeout');
      if (visibilitySeconds !== undefined && (visibilitySeconds < 0 || visibilitySeconds > MAX_VISIBILITY_SECONDS)) {
        throw sqsErrors.invalid('VisibilityTimeout', visibilitySeconds, `Must be between 0 and ${MAX_VISIBILITY_SECONDS}, if provided.`);
      }
      // Both the current name of the parameter and the one it replaced.
      const wanted = new Set([...(optionalTexts(input, 'MessageSystemAttributeNames') ?? []), ...(optionalTexts(input, 'AttributeNames') ?? [])]);
      const messages = await receiveWaiting(queue, max, visibilitySeconds === undefined ? undefined : visibilitySeconds * 1000, waitSeconds * 1000, closed);
      return {
        Messages: messages.map(
          (message): Message => ({
            MessageId: message.messageId,
            ReceiptHandle: message.receiptHandle,
            MD5OfBody: message.md5OfBody,
            Body: message.body,
            ...(wanted.size > 0 ? { Attributes: pick(message.attributes, wanted) } : {}),
          }),
        ),
      };
    },
    DeleteMessage: (input) => {
      queues.byUrl(text(input, 'QueueUrl')).delete(text(input, 'ReceiptHandle'));
      return {};
    },
    GetQueueUrl: (input): GetQueueUrlResult => ({ QueueUrl: queues.byName(text(input, 'QueueName')).url }),
    GetQueueAttributes: (input): GetQueueAttributesResult => {
      const queue = queues.byUrl(text(input, 'QueueUrl'));
      return { Attributes: pick(queue.attributes(), new Set(optionalTexts(input, 'AttributeNames') ?? [])) };
    },
  };

  return async (req, res) => {
    const target = req.headers['x-amz-target'];
    if (req.method !== 'POST' || typeof target !== 'string' || !target.startsWith(TARGET_PREFIX)) return false;
    const requestId = gatewayId();
    const closed = new AbortController();
    res.once('close', () => closed.abort());
    try {
      const operation = operations[target.slice(TARGET_PREFIX.length)];
      if (!operation) throw sqsErrors.unsupported(target.slice(TARGET_PREFIX.length));
      const output = await operation(await requestBody(req), { senderId: senderOf(req), closed: closed.signal });
      json(res, 200, output, { 'content-type': CONTENT_TYPE, 'x-amzn-RequestId': requestId });
    } catch (error) {
      if (!(error instanceof SqsError)) throw error;
      answerError(res, error, requestId);
    }
    return true;
  };
}

/** Long polling: waits up to `waitMs` for at least one message, or the client going away. */
async function receiveWaiting(queue: LocalQueue, max: number, visibilityMs: number | undefined, waitMs: number, closed: AbortSignal) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const messages = queue.receive(max, visibilityMs);
    const left = deadline - Date.now();
    if (messages.length > 0 || left <= 0 || closed.aborted) return messages;
    await queue.changed(left, closed);
  }
}

/** An error as the JSON protocol carries it, with the code a query-compatible client reads from the header. */
function answerError(res: ServerResponse, error: SqsError, requestId: string): void {
  json(res, error.status, { __type: error.type, message: error.message }, { 'content-type': CONTENT_TYPE, 'x-amzn-query-error': `${error.code};Sender`, 'x-amzn-RequestId': requestId });
}

async function requestBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const { body, size } = await readBody(req, BODY_LIMIT);
  if (size > BODY_LIMIT) throw SqsError.unmodelled('InvalidParameterValue', `the request is longer than ${BODY_LIMIT} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw SqsError.unmodelled('InvalidParameterValue', 'the request body is not JSON');
  }
  if (!isObject(value)) throw SqsError.unmodelled('InvalidParameterValue', 'the request body is not a JSON object');
  return value;
}

/** The access key id of the request's SigV4 signature: who SQS says sent a message. */
function senderOf(req: IncomingMessage): string {
  return /Credential=([^/,\s]+)/.exec(req.headers.authorization ?? '')?.[1] ?? 'anonymous';
}

const sendResult = (sent: SentMessage): SendMessageResult & Pick<SendMessageBatchResultEntry, 'MessageId' | 'MD5OfMessageBody'> => ({
  MessageId: sent.messageId,
  MD5OfMessageBody: sent.md5OfBody,
  ...(sent.sequenceNumber === undefined ? {} : { SequenceNumber: sent.sequenceNumber }),
});

/** One message of SendMessage or of a SendMessageBatch entry. */
function messageOf(input: Record<string, unknown>): Omit<OutgoingMessage, 'senderId'> {
  // Nothing in Updraft sends them; refused rather than dropped, so that nothing comes to rely on their absence.
  for (const name of ['MessageAttributes', 'MessageSystemAttributes']) if (input[name] !== undefined) throw sqsErrors.unsupported(name);
  const groupId = optionalText(input, 'MessageGroupId');
  const deduplicationId = optionalText(input, 'MessageDeduplicationId');
  const delaySeconds = optionalNumber(input, 'DelaySeconds');
  return {
    body: text(input, 'MessageBody'),
    ...(groupId === undefined ? {} : { groupId }),
    ...(deduplicationId === undefined ? {} : { deduplicationId }),
    ...(delaySeconds === undefined ? {} : { delaySeconds }),
  };
}

/** The attributes named in `wanted` (all of them for `All`). */
function pick(attributes: object, wanted: ReadonlySet<string>): Record<string, string> {
  return Object.fromEntries(Object.entries(attributes).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && (wanted.has('All') || wanted.has(entry[0]))));
}

// Parameters, read at the edge: a missing one or one of the wrong type is the sender's error, as SQS answers it.

function text(input: Record<string, unknown>, name: string): string {
  const value = optionalText(input, name);
  if (value === undefined) throw sqsErrors.missing(name);
  return value;
}

function optionalText(input: Record<string, unknown>, name: string): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw sqsErrors.invalid(name, value, 'must be a string');
  return value;
}

function optionalNumber(input: Record<string, unknown>, name: string): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw sqsErrors.invalid(name, value, 'must be a whole number');
  return value;
}

function list(input: Record<string, unknown>, name: string): Record<string, unknown>[] {
  const value = input[name];
  if (value === undefined || value === null) throw sqsErrors.missing(name);
  if (!Array.isArray(value) || !value.every(isObject)) throw sqsErrors.invalid(name, value, 'must be a list of objects');
  return value;
}

function optionalTexts(input: Record<string, unknown>, name: string): string[] | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) throw sqsErrors.invalid(name, value, 'must be a list of strings');
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
