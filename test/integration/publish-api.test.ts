// jest's global expect types its asymmetric matchers (expect.any, …) as any; @jest/globals types them.
import { expect } from '@jest/globals';
import { LocalPublishPrincipals, PublishRoute } from '../../shared/publish-api';
import { LocalStack } from '../support/local-stack';
import { OpenApiDocument, callPublishApi, type Answer, type CallOptions } from '../support/publish-api';
import type { Frame } from '../support/ws-client';

/**
 * The publish API on the local stack, called as a backend calls it: requests signed by the AWS
 * SDK's SigV4 signer. Every answer is also checked against docs/publish-api.openapi.json.
 */
// A small integration budget, so that its refusal is reached in a few requests (README, "Publish from a backend").
const BUDGET = { burst: 3, perSecond: 0.5 };
const [, inboxReader] = LocalPublishPrincipals;
const openApi = new OpenApiDocument();
/** Every answer this suite got: the last test checks they cover what the document promises. */
const answers: Answer[] = [];
let stack: LocalStack;

beforeAll(async () => {
  stack = await LocalStack.start({ env: { UPDRAFT_FUNCTION_ENV: `PUBLISH_RATE_BURST=${BUDGET.burst},PUBLISH_RATE_PER_SECOND=${BUDGET.perSecond}` } });
});

afterAll(async () => {
  expect(await stack.stop()).toBe(0);
});

async function call(method: 'GET' | 'POST', path: string, options: CallOptions = {}): Promise<Answer> {
  const answer = await callPublishApi(stack.publishUrl, method, path, options);
  answers.push(answer);
  expect({ [`${method} ${path} → ${answer.status}`]: openApi.problems(answer) }).toEqual({ [`${method} ${path} → ${answer.status}`]: [] });
  return answer;
}

const publish = (fields: Record<string, unknown>, options: CallOptions = {}) => call('POST', '/statuses', { body: JSON.stringify(fields), ...options });
const statusOf = (answer: Answer) => (answer.body as { status: { id: string; author: string; text: string } }).status;
const liveStatuses = (frames: readonly Frame[], id: string) => frames.filter((f) => f.type === 'status' && (f['status'] as { id?: string } | undefined)?.id === id);

describe('the publish API', () => {
  it('publishes a status that reaches live WebSocket subscribers, as a post does', async () => {
    const reader = await stack.connect('pub-reader');
    await reader.request({ action: 'subscribe', channels: ['user:pub-ann'] });

    const answer = await publish({ author: 'pub-ann', text: '  imported from elsewhere  ' });

    expect(answer.status).toBe(201);
    const status = statusOf(answer);
    expect(status).toMatchObject({ author: 'pub-ann', text: 'imported from elsewhere' });
    const live = await reader.next((f) => f.type === 'status' && (f['status'] as { id?: string }).id === status.id);
    expect(live).toMatchObject({ channel: 'user:pub-ann', status });
  });

  it('is idempotent: the same id answers the same status (200), delivered once; another status under it is 409', async () => {
    const reader = await stack.connect('pub-reader2');
    await reader.request({ action: 'subscribe', channels: ['user:pub-bea'] });

    const first = await publish({ author: 'pub-bea', text: 'once only', id: 'import-42' });
    const retry = await publish({ author: 'pub-bea', text: 'once only', id: 'import-42' });
    const conflict = await publish({ author: 'pub-bea', text: 'something else', id: 'import-42' });
    // A status after the retries: once it is delivered, anything the retry had delivered would have been too.
    const marker = statusOf(await publish({ author: 'pub-bea', text: 'marker' }));
    await reader.next((f) => f.type === 'status' && (f['status'] as { id?: string }).id === marker.id);

    expect([first.status, retry.status, conflict.status]).toEqual([201, 200, 409]);
    expect(statusOf(retry)).toEqual(statusOf(first));
    expect(conflict.body).toMatchObject({ code: 'conflict', message: expect.stringContaining('import-42') });
    expect(liveStatuses(reader.frames, statusOf(first).id)).toHaveLength(1);
  });

  it("charges the author's integration budget, not the author's own: 429 with Retry-After, while the user still posts", async () => {
    const statuses = [];
    for (let i = 0; i < BUDGET.burst; i++) statuses.push(await publish({ author: 'pub-cal', text: `backfill ${i}` }));
    const refused = await publish({ author: 'pub-cal', text: 'one too many' });
    const otherAuthor = await publish({ author: 'pub-dee', text: 'a budget of its own' });
    const own = await (await stack.connect('pub-cal')).request({ action: 'post', text: 'my own post' });

    expect(statuses.map((s) => s.status)).toEqual(Array(BUDGET.burst).fill(201));
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'rate_limited', retryAfterMs: expect.any(Number) });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(otherAuthor.status).toBe(201);
    expect(own).toMatchObject({ type: 'posted', status: { author: 'pub-cal', text: 'my own post' } });
  });

  it('answers a bad author, text, body or reply with the protocol error and its HTTP status', async () => {
    const badAuthor = await publish({ author: 'not a user!', text: 'hello' });
    const noAuthor = await publish({ text: 'hello' });
    const blank = await publish({ author: 'pub-eve', text: '   ' });
    const tooLong = await publish({ author: 'pub-eve', text: 'x'.repeat(501) });
    const notJson = await call('POST', '/statuses', { body: '{"author":' });
    const noParent = await publish({ author: 'pub-eve', text: 'to nothing', replyTo: '01ARZ3NDEKTSV4RRFFQ69G5FAV' });

    for (const answer of [badAuthor, noAuthor, blank, tooLong, notJson]) expect([answer.status, (answer.body as { code: string }).code]).toEqual([400, 'bad_request']);
    expect(badAuthor.body).toMatchObject({ message: expect.stringContaining('author must be a user id') });
    expect(blank.body).toMatchObject({ message: expect.stringContaining('1 to 500 characters') });
    expect(notJson.body).toMatchObject({ message: 'body is not valid JSON' });
    expect([noParent.status, noParent.body]).toEqual([404, expect.objectContaining({ code: 'not_found' })]);
    for (const answer of [badAuthor, notJson, noParent]) expect(JSON.stringify(answer.body)).not.toMatch(/\bat \S+\.(js|ts):\d+/);
  });

  it('refuses what API Gateway refuses: unsigned, malformed or unknown credentials 403, an unknown route 404', async () => {
    const body = JSON.stringify({ author: 'pub-fay', text: 'unsigned' });
    const unsigned = await call('POST', '/statuses', { body, signAs: false });
    const malformed = await call('POST', '/statuses', { body, signAs: false, headers: { authorization: 'AWS4-HMAC-SHA256 Credential=local, Signature=abc', 'x-amz-date': '20261128T000000Z' } });
    const stranger = await call('POST', '/statuses', { body, signAs: { accessKeyId: 'AKIDSTRANGER', secretAccessKey: 'x' } });
    const unknownRoute = await callPublishApi(stack.publishUrl, 'GET', '/nowhere');

    for (const answer of [unsigned, malformed, stranger]) expect([answer.status, answer.body]).toEqual([403, { message: 'Forbidden' }]);
    expect([unknownRoute.status, unknownRoute.body]).toEqual([404, { message: 'Not Found' }]);
    // Nothing was published by the refused requests.
    const history = await call('GET', '/channels/user:pub-fay/history');
    expect(history.body).toEqual({ channel: 'user:pub-fay', items: [] });
  });

  it('reads a status by id and pages a channel as the WebSocket history does', async () => {
    const ids = [];
    for (const text of ['first', 'second', 'third']) ids.push(statusOf(await publish({ author: 'pub-gus', text })).id);

    const byId = await call('GET', `/statuses/${ids[0] ?? ''}`);
    const newest = await call('GET', '/channels/user%3Apub-gus/history', { query: { limit: '2' } });
    const next = (newest.body as { next?: string }).next ?? '';
    const older = await call('GET', '/channels/user:pub-gus/history', { query: { before: next } });
    const missing = await call('GET', '/statuses/01ARZ3NDEKTSV4RRFFQ69G5FAV');
    const badId = await call('GET', '/statuses/not-an-id');
    const badLimit = await call('GET', '/channels/user:pub-gus/history', { query: { limit: '101' } });

    expect(byId.body).toEqual({ status: expect.objectContaining({ id: ids[0], text: 'first' }) });
    expect((newest.body as { items: { text: string }[] }).items.map((s) => s.text)).toEqual(['third', 'second']);
    expect(next).toBe(ids[1]);
    expect(older.body).toEqual({ channel: 'user:pub-gus', items: [expect.objectContaining({ id: ids[0], text: 'first' })] });
    expect([missing.status, badId.status, badLimit.status]).toEqual([404, 400, 400]);
  });

  it('keeps inboxes to principals granted their route: refused on the channels route, and to the publish policy', async () => {
    const root = statusOf(await publish({ author: 'pub-hal', text: 'a status to answer' }));
    await publish({ author: 'pub-ida', text: 'an answer', replyTo: root.id });

    const viaChannels = await call('GET', '/channels/inbox:pub-hal/history', { signAs: inboxReader });
    const withoutGrant = await call('GET', '/inboxes/pub-hal/history');
    const granted = await call('GET', '/inboxes/pub-hal/history', { signAs: inboxReader });

    expect([viaChannels.status, viaChannels.body]).toEqual([403, expect.objectContaining({ code: 'forbidden' })]);
    expect([withoutGrant.status, withoutGrant.body]).toEqual([403, { message: 'Forbidden' }]);
    expect(granted.status).toBe(200);
    expect(granted.body).toMatchObject({ channel: 'inbox:pub-hal', items: [{ kind: 'reply', from: 'pub-ida', status: { replyTo: root.id } }] });
  });

  it('answers as docs/publish-api.openapi.json says, on every operation it documents', () => {
    const operations = new Set(answers.flatMap((a) => (openApi.template(a.path) === undefined ? [] : [`${a.method} ${openApi.template(a.path) ?? ''}`])));
    const statuses = new Set(answers.map((a) => a.status));

    expect([...operations].sort()).toEqual(Object.values(PublishRoute).sort());
    expect([...statuses].sort()).toEqual([200, 201, 400, 403, 404, 409, 429]);
    // Each answer was checked as it came (call()); here, that none was left out, and that the check is live.
    expect(answers.flatMap((a) => openApi.problems(a))).toEqual([]);
    const created = answers.find((a) => a.status === 201);
    const drifted = created && { ...created, body: { status: { ...statusOf(created), mood: 'undocumented' } } };
    expect(drifted && openApi.problems(drifted)).toEqual([expect.stringContaining('must NOT have additional properties')]);
  });
});
